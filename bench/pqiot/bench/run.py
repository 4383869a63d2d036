"""Run the benchmark on one target and assemble the report (``docs/bench-schema.md``).

Every target is driven through its Test Agent (``pqiot.hil``): ``host-ref`` is the
Python reference's own agent, ``host-fw`` the native firmware, ``qemu-m4`` the M4
image under QEMU, boards through their serial port. The figures keep the unit their
counter gives (cycles, instruction_proxy, wall_clock_ns); nothing is converted.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Any

from pqiot.bench.environment import git_revision, host_environment
from pqiot.bench.handshake import HandshakeResult, measure_handshakes, suite_primitives
from pqiot.bench.image import image_figures
from pqiot.bench.messages import DEFAULT_SIGN_MESSAGES, MESSAGE_STREAM_SEED
from pqiot.bench.primitives import AEADS, HASHES, KEM_SETS, SIG_ALGS, measure_primitives
from pqiot.bench.report import SCHEMA, metric, metric_from_samples
from pqiot.bench.stats import DEFAULT_SPREAD_THRESHOLD
from pqiot.hil.runner import TargetRunner
from pqiot.reference import suites as suite_table

__all__ = [
    "BenchOptions",
    "clock_of",
    "handshake_metrics",
    "handshake_ratios",
    "measure_declaration",
    "plan_measurements",
    "run_bench",
]


@dataclass(frozen=True)
class BenchOptions:
    suites: tuple[int, ...] = ()
    runs: int = 5
    warmup: int = 1
    sign_messages: int = DEFAULT_SIGN_MESSAGES
    spread_threshold: float = DEFAULT_SPREAD_THRESHOLD
    handshakes: bool = True


def plan_measurements(
    identity: dict[str, Any], options: BenchOptions
) -> tuple[list[str], list[int], list[str]]:
    """(primitives, suites, notes): what to measure given what the target declares."""
    declared_prims = [str(p) for p in identity.get("primitives") or []]
    declared_suites = [int(s) for s in identity.get("suites") or []]
    roles = set(identity.get("roles") or [])
    notes: list[str] = []
    if options.suites:
        wanted = list(options.suites)
        for s in wanted:
            if s not in declared_suites:
                notes.append(f"suite {s}: the target does not declare it; not measured")
        chosen = [s for s in wanted if s in declared_suites]
        needed = {p for s in wanted for p in suite_primitives(s).values()}
        prims = [p for p in declared_prims if p in needed]
    else:
        chosen = [
            s
            for s in declared_suites
            if not suite_primitives(s).get("sig", "").startswith("falcon")
        ]
        skipped = sorted(set(declared_suites) - set(chosen))
        if skipped:
            notes.append(
                f"Falcon suites {skipped} not run by default (pure-Python Falcon keys are slow "
                "to generate): ask for them with --suite"
            )
        prims = declared_prims
    measurable = set(KEM_SETS) | set(SIG_ALGS) | set(AEADS) | set(HASHES)
    prims = [p for p in prims if p in measurable]
    if not {"initiator", "responder"} <= roles or 81 not in (identity.get("commands") or []):
        if chosen:
            notes.append("the target does not run protocol roles over TAP: no handshake figures")
        chosen = []
    return prims, chosen, notes


def handshake_ratios(
    metrics: list[dict[str, Any]], threshold: float, same_code: bool
) -> list[dict[str, Any]]:
    """Handshake cost / sum of the primitives that role must run, per suite and role."""
    median = {m["name"]: m["statistics"]["median"] for m in metrics}
    minimum = {m["name"]: m["statistics"]["min"] for m in metrics}
    units = {m["name"]: m["unit"] for m in metrics}
    out: list[dict[str, Any]] = []
    for m in metrics:
        if m["group"] != "handshake":
            continue
        prims = suite_primitives(m["suite"])
        kem, sig = prims.get("kem"), prims.get("sig")
        needed = (
            [f"{kem} keygen", f"{kem} decaps", f"{sig} sign", f"{sig} verify"]
            if m["role"] == "initiator"
            else [f"{kem} encaps", f"{sig} sign", f"{sig} verify"]
        )
        if not all(n in median and units[n] == m["unit"] for n in needed):
            continue
        floor = sum(float(median[n]) for n in needed)
        least = sum(float(minimum[n]) for n in needed)
        out.append(
            metric(
                f"{m['name']} / primitives (minimums)",
                "handshake-ratio",
                "ratio",
                [round(float(m["statistics"]["min"]) / least, 4)],
                threshold=threshold,
                suite=m["suite"],
                role=m["role"],
                notes=[
                    "fastest handshake over the sum of the fastest primitives: both close to "
                    "one signing iteration, so the protocol overhead shows without the "
                    "rejection-loop noise of the median ratio"
                ],
            )
        )
        out.append(
            metric(
                f"{m['name']} / primitives",
                "handshake-ratio",
                "ratio",
                [round(float(v) / floor, 4) for v in m["samples"]],
                threshold=threshold,
                suite=m["suite"],
                role=m["role"],
                check_spread=False,
                notes=[
                    "handshake cost over the sum of the medians of: " + ", ".join(needed),
                    "signing in the handshake signs another message than the set: "
                    "rejection-loop variance shows up here",
                ]
                + (
                    []
                    if same_code
                    else [
                        "NOT like for like: the reference picks its backend per call (pure "
                        "Python when randomness is given, as in TAP primitive commands; "
                        "cryptography otherwise), so primitives and protocol steps may run "
                        "different code; in-process figures: `make bench`"
                    ]
                ),
            )
        )
    return out


def handshake_metrics(result: HandshakeResult, threshold: float) -> list[dict[str, Any]]:
    """Metrics of measured handshakes: DUT cost, steps, end to end, records, bytes per binding."""
    metrics = [metric_from_samples(s, threshold) for s in result.samples]
    for suite_id, per_binding in result.wire.items():
        for binding, size in per_binding.items():
            metrics.append(
                metric(
                    f"handshake {suite_id} bytes {binding}",
                    "wire",
                    "bytes",
                    [size],
                    threshold=threshold,
                    suite=suite_id,
                    notes=[f"EDHOC message sizes {result.messages[suite_id]}"],
                )
            )
    return metrics


def measure_declaration(identity: dict[str, Any]) -> dict[Any, Any]:
    """IDENTIFY's ``measure`` map (cycle source, clock, stack painting), or empty."""
    raw = identity.get("measure")
    return raw if isinstance(raw, dict) else {}


def clock_of(clock: Any, identity: dict[str, Any]) -> dict[str, Any]:
    """The clock a figure was taken at: the target description's, else what IDENTIFY says."""
    declared = measure_declaration(identity)
    clock_hz = declared.get("clock_hz")
    return {
        "hz": clock.hz if clock else (clock_hz if isinstance(clock_hz, int) else 0),
        "cycle_counter": clock.cycle_counter if clock else declared.get("cycles"),
        "flash_wait_states": getattr(clock, "flash_wait_states", None),
        "cache": getattr(clock, "cache", None),
        "notes": getattr(clock, "notes", None),
    }


def _signing_distribution(metrics: list[dict[str, Any]], count: int) -> dict[str, Any]:
    dist: dict[str, Any] = {
        "messages": count,
        "construction": (
            f"{count} x 32-byte messages from SHAKE128({MESSAGE_STREAM_SEED.decode()!r}) after "
            "the 32-byte key seed xi; rnd = 32 zero bytes (deterministic)"
        ),
        "per_scheme": {},
    }
    for m in metrics:
        if m["group"] == "primitive" and m["name"].endswith(" sign"):
            values = sorted(m["samples"])
            low = values[0]
            dist["per_scheme"][m["name"].removesuffix(" sign")] = {
                "unit": m["unit"],
                "quartiles": [
                    values[len(values) // 4],
                    values[len(values) // 2],
                    values[3 * len(values) // 4],
                ],
                "relative_to_min": [round(v / low, 2) for v in m["samples"]] if low else [],
            }
    return dist


def run_bench(runner: TargetRunner, options: BenchOptions) -> dict[str, Any]:
    """Bring nothing up or down: ``runner`` is running; return the report."""
    description = runner.description
    started = datetime.datetime.now(datetime.UTC)
    client = runner.client()
    t0 = time.monotonic()
    try:
        identity = client.identify()
        prims, chosen, notes = plan_measurements(identity, options)
        primitive_samples = measure_primitives(
            client,
            prims,
            runs=options.runs,
            warmup=options.warmup,
            sign_messages=options.sign_messages,
        )
        handshakes = (
            measure_handshakes(client, chosen, runs=options.runs, warmup=options.warmup)
            if options.handshakes and chosen
            else None
        )
    finally:
        client.close()
    metrics = [metric_from_samples(s, options.spread_threshold) for s in primitive_samples]
    if handshakes is not None:
        metrics += handshake_metrics(handshakes, options.spread_threshold)
        metrics += handshake_ratios(
            metrics, options.spread_threshold, str(identity.get("firmware")) != "reference"
        )
    image = image_figures(runner.image_path(), description.kind, metrics)
    metrics += image.metrics
    units = sorted({m["unit"] for m in metrics if m["group"] == "primitive"})
    measure_info = measure_declaration(identity)
    return {
        "schema": SCHEMA,
        "target": description.name,
        "kind": description.kind,
        "clock": clock_of(description.clock, identity),
        "compiler": image.compiler,
        "flags": image.flags,
        "git_revision": git_revision(runner.root),
        "firmware": str(identity.get("firmware")),
        "unit": units[0] if len(units) == 1 else units,
        "stack_measured": measure_info.get("stack") == "paint",
        "host": host_environment(),
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "settings": {
            "runs": options.runs,
            "warmup": options.warmup,
            "sign_messages": options.sign_messages,
            "spread_threshold": options.spread_threshold,
            "suites": chosen,
            "primitives": prims,
            "seeds": "SHAKE128 streams labelled 'pqiot-bench/...' (fixed)",
        },
        "footprint": image.footprint,
        "signing_distribution": _signing_distribution(metrics, options.sign_messages),
        "metrics": metrics,
        "notes": notes
        + (handshakes.notes if handshakes is not None else [])
        + [f"suite {s}: {suite_table.get(s).name}" for s in chosen],
    }
