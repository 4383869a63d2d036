"""Summary statistics of repeated measurements, and the spread check that flags them.

A figure is only useful with its variance next to it: every metric carries
min / median / mean / max, the standard deviation and two spread measures, and is
flagged ``wide-spread`` when ``(max - min) / median`` exceeds the threshold, so a
noisy number is shown as noisy instead of being smoothed away.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_SPREAD_THRESHOLD", "Summary", "summarize"]

#: (max - min) / median above which a figure is flagged. Deterministic counters
#: (QEMU's instruction proxy) stay at 0; host wall clock usually stays below 0.25.
DEFAULT_SPREAD_THRESHOLD = 0.25


@dataclass(frozen=True)
class Summary:
    n: int
    min: float
    median: float
    mean: float
    max: float
    stdev: float
    #: coefficient of variation, stdev / mean (0 for a single sample)
    cv: float
    #: (max - min) / median
    spread: float

    def to_json(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "min": self.min,
            "median": self.median,
            "mean": round(self.mean, 3),
            "max": self.max,
            "stdev": round(self.stdev, 3),
            "cv": round(self.cv, 4),
            "spread": round(self.spread, 4),
        }


def summarize(samples: Sequence[float]) -> Summary:
    """Statistics of ``samples``; ValueError when there are none (no figure, no number)."""
    if not samples:
        raise ValueError("no samples to summarise")
    values = [float(v) for v in samples]
    mean = statistics.fmean(values)
    median = statistics.median(values)
    stdev = statistics.stdev(values) if len(values) > 1 else 0.0
    low, high = min(values), max(values)
    return Summary(
        n=len(values),
        min=_tidy(low),
        median=_tidy(median),
        mean=mean,
        max=_tidy(high),
        stdev=stdev,
        cv=stdev / mean if mean else 0.0,
        spread=(high - low) / median if median else 0.0,
    )


def _tidy(value: float) -> float:
    """Integers stay integers in JSON (counts, bytes); halves of a median stay exact."""
    return int(value) if float(value).is_integer() else value
