"""Public reference figures to put next to ours (``shared/design/measurement.md``).

pqm4 (PQClean "clean", real Cortex-M4, arm-none-eabi-gcc 11) gives cycles and stack
per operation. Our QEMU figure is an *instruction* count: the ratio is a sanity
check, not a 1:1 comparison (no pipeline, wait states or multi-cycle instructions
are modelled). Host wall-clock figures are compared only with the host figures of
the same document (the ``cryptography`` package, ns per call).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Reference", "reference_for"]


@dataclass(frozen=True)
class Reference:
    source: str
    unit: str  # "cycles", "wall_clock_ns" or "bytes"
    value: float
    stack_bytes: int | None = None
    note: str = ""


_PQM4 = "pqm4 PQClean clean, Cortex-M4, gcc 11"
# operation -> (cycles, stack); ML-DSA-44 signing is pqm4's average, the others its figure.
_PQM4_FIGURES: dict[str, tuple[float, int]] = {
    "ml-kem-512 keygen": (596e3, 6152),
    "ml-kem-512 encaps": (701e3, 8784),
    "ml-kem-512 decaps": (889e3, 9560),
    "ml-kem-768 keygen": (989e3, 10248),
    "ml-kem-768 encaps": (1138e3, 13384),
    "ml-kem-768 decaps": (1388e3, 14480),
    "ml-kem-1024 keygen": (1.54e6, 15128),
    "ml-kem-1024 encaps": (1.71e6, 18776),
    "ml-kem-1024 decaps": (2.02e6, 20352),
    "ml-dsa-44 keygen": (1.87e6, 38304),
    "ml-dsa-44 sign": (7.93e6, 51976),
    "ml-dsa-44 verify": (2.06e6, 36308),
    "ml-dsa-65 keygen": (3.21e6, 60832),
    "ml-dsa-65 sign": (12.36e6, 79624),
    "ml-dsa-65 verify": (3.38e6, 57736),
}
_HOST = "Python cryptography (OpenSSL), 2-core x86-64, per call"
_HOST_FIGURES: dict[str, float] = {
    "ml-kem-768 keygen": 100e3,
    "ml-kem-768 encaps": 24e3,
    "ml-kem-768 decaps": 35e3,
}


def reference_for(operation: str, unit: str) -> Reference | None:
    """The public figure for ``operation`` measured in ``unit``, or None."""
    if unit in ("cycles", "instruction_proxy") and operation in _PQM4_FIGURES:
        cycles, stack = _PQM4_FIGURES[operation]
        note = "" if unit == "cycles" else "QEMU instruction proxy vs M4 cycles: not comparable 1:1"
        if operation.endswith(" sign"):
            note = (
                note + "; " if note else ""
            ) + "pqm4 signing figure is an average: compare the mean"
        return Reference(_PQM4, "cycles", cycles, stack, note)
    if unit == "wall_clock_ns" and operation in _HOST_FIGURES:
        return Reference(
            _HOST,
            "wall_clock_ns",
            _HOST_FIGURES[operation],
            None,
            "other machine and implementation",
        )
    return None
