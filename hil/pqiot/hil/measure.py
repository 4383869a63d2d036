"""Per-operation measurements from the agent, with the units and settings that give them meaning.

Each figure comes from MEASURE after the operation (§13.6) and is labelled by its
source: ``cycles`` only for DWT/SysTick on a real core, ``instruction_proxy`` for
QEMU's ``-icount`` SysTick, ``wall_clock_ns`` for host builds. The report records
the clock, flash wait states and cache settings of the target description next to
the numbers, and the static footprint from the ELF image. ML-DSA signing time varies
with the rejection loop, so every operation reports min / median / mean / max.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Callable
from typing import Any

from pqiot.hil.client import AgentClient, Measurement, StatusError
from pqiot.hil.runner import TargetRunner

__all__ = ["measure_target"]

_KEM_SETS = {"ml-kem-512": 512, "ml-kem-768": 768, "ml-kem-1024": 1024}
_DSA_ALGS = {"ml-dsa-44": -48, "ml-dsa-65": -49, "ml-dsa-87": -50}


def _seed(label: str, index: int, size: int) -> bytes:
    return hashlib.shake_128(f"{label}/{index}".encode()).digest(size)


def _operations(name: str, client: AgentClient) -> list[tuple[str, Callable[[int], None]]]:
    if name in _KEM_SETS:
        kem = _KEM_SETS[name]
        state: dict[str, bytes] = {}

        def keygen(i: int) -> None:
            state["ek"], state["dk"] = client.mlkem_keygen(
                kem, _seed(name, i, 32), _seed(name, -i, 32)
            )

        def encaps(i: int) -> None:
            state["c"], _ = client.mlkem_encaps(kem, state["ek"], _seed(name + "m", i, 32))

        def decaps(i: int) -> None:
            client.mlkem_decaps(kem, state["dk"], state["c"])

        return [(f"{name} keygen", keygen), (f"{name} encaps", encaps), (f"{name} decaps", decaps)]
    alg = _DSA_ALGS[name]
    keys: dict[str, bytes] = {}

    def sig_keygen(i: int) -> None:
        keys["pk"], keys["sk"] = client.sig_keygen(alg, _seed(name, i, 32))

    def sign(i: int) -> None:
        keys["sig"] = client.sig_sign(alg, keys["sk"], _seed(name + "msg", i, 32))

    def verify(i: int) -> None:
        client.sig_verify(alg, keys["pk"], _seed(name + "msg", i, 32), keys["sig"])

    return [(f"{name} keygen", sig_keygen), (f"{name} sign", sign), (f"{name} verify", verify)]


def _summary(values: list[int]) -> dict[str, float | int]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 1),
        "max": max(values),
    }


def measure_target(
    runner: TargetRunner,
    client: AgentClient,
    *,
    repeats: int = 3,
    primitives: list[str] | None = None,
) -> dict[str, Any]:
    """Run each declared ML-KEM / ML-DSA operation ``repeats`` times and collect MEASURE."""
    from pqiot.hil.check import footprint_report

    identity = client.identify()
    listed = identity.get("primitives")
    declared = [str(p) for p in listed] if isinstance(listed, list) else []
    names = [p for p in (primitives or declared) if p in _KEM_SETS or p in _DSA_ALGS]
    clock = runner.description.clock
    report: dict[str, Any] = {
        "target": runner.description.name,
        "firmware": identity.get("firmware"),
        "clock": None if clock is None else vars(clock),
        "footprint": footprint_report(runner),
        "operations": [],
        "skipped": [],
    }
    unit: str | None = None
    for name in names:
        try:
            operations = _operations(name, client)
            samples: dict[str, list[Measurement]] = {label: [] for label, _ in operations}
            for i in range(repeats):
                for label, run in operations:
                    run(i)
                    samples[label].append(client.measure())
        except StatusError as exc:
            report["skipped"].append(f"{name}: {exc}")
            continue
        for label, measured in samples.items():
            unit = measured[0].unit
            stacks = [m.stack_bytes for m in measured if m.stack_bytes is not None]
            report["operations"].append(
                {
                    "operation": label,
                    "unit": unit,
                    "cycle_source": measured[0].cycle_source,
                    "overflow": any(m.cycles_overflow for m in measured),
                    **_summary([m.cycles for m in measured]),
                    "stack_bytes": max(stacks) if stacks else None,
                    "samples": len(measured),
                }
            )
    report["unit"] = unit
    return report
