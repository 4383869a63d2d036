"""Compare a report with a baseline report: which metrics got worse, and by how much.

Metrics are matched by name and compared on the median (the figure least moved by
one outlier). Only figures of the same unit are compared: an instruction proxy is
never held against wall-clock nanoseconds. A regression is an increase above
``max_regression`` percent (every metric here is a cost: lower is better) that is also
larger than the counter's resolution: QEMU's proxy moves in SysTick counts of
1e9 / clock_hz instructions, so 0 -> 40 is one tick of jitter, not +inf %. Metrics in
an ``ignore_units`` unit are compared and shown but never count as a regression
(wall clock on a shared machine next to a deterministic proxy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    name: str
    unit: str
    baseline: float
    current: float
    change_pct: float
    regressed: bool
    gated: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "baseline": self.baseline,
            "current": self.current,
            "change_pct": round(self.change_pct, 2),
            "regressed": self.regressed,
            "gated": self.gated,
        }


def resolution(report: dict[str, Any], unit: str) -> float:
    """The smallest step of ``unit`` in ``report``: one SysTick count for the QEMU proxy."""
    hz = report.get("clock", {}).get("hz")
    if unit == "instruction_proxy" and isinstance(hz, int) and hz > 0:
        return float(10**9 // hz)
    return 0.0


def compare(
    current: dict[str, Any],
    baseline: dict[str, Any],
    max_regression: float,
    ignore_units: frozenset[str] = frozenset(),
) -> tuple[list[Comparison], list[str]]:
    """(comparisons of matching metrics, notes on what could not be compared)."""
    notes: list[str] = []
    if current.get("target") != baseline.get("target"):
        notes.append(
            f"baseline is for target {baseline.get('target')!r}, this run for "
            f"{current.get('target')!r}: only metrics of the same unit are compared"
        )
    old = {m["name"]: m for m in baseline.get("metrics", [])}
    comparisons: list[Comparison] = []
    for entry in current.get("metrics", []):
        before = old.get(entry["name"])
        if before is None:
            continue
        if before["unit"] != entry["unit"]:
            notes.append(
                f"{entry['name']}: unit {entry['unit']} vs baseline {before['unit']}, not compared"
            )
            continue
        a, b = float(before["statistics"]["median"]), float(entry["statistics"]["median"])
        change = (b - a) / a * 100 if a else (0.0 if b == a else float("inf"))
        gated = entry["unit"] not in ignore_units
        worse = change > max_regression and b - a > resolution(current, entry["unit"])
        comparisons.append(
            Comparison(entry["name"], entry["unit"], a, b, change, gated and worse, gated)
        )
    missing = sorted(set(old) - {m["name"] for m in current.get("metrics", [])})
    if missing:
        notes.append(
            f"{len(missing)} baseline metrics not measured in this run: {', '.join(missing[:8])}"
        )
    return comparisons, notes
