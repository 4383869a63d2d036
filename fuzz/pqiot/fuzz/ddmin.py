"""Delta debugging (Zeller's ddmin): the smallest failing subsequence a budget allows.

A live-device finding costs a fresh device per test (a process restart or an
emulator boot), so the search is bounded by a number of tests; what it has
when the budget runs out is still a failing input, just not 1-minimal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["ddmin"]

T = TypeVar("T")


def ddmin(
    items: Sequence[T],
    fails: Callable[[list[T]], bool],
    max_tests: int = 64,
    deadline: float | None = None,
) -> list[T]:
    """Reduce ``items`` while ``fails(subset)`` stays true.

    At most ``max_tests`` calls, and none started after ``deadline`` (``time.monotonic()``).
    ``fails(list(items))`` is assumed true (the caller reproduced the finding first).
    Tries removing chunks (complements), halving the chunk size when nothing can go.
    """
    current = list(items)
    granularity = 2
    tests = 0

    def budget_left() -> bool:
        return tests < max_tests and (deadline is None or time.monotonic() < deadline)

    while len(current) >= 2 and budget_left():
        size = max(1, len(current) // granularity)
        reduced = False
        start = 0
        while start < len(current) and budget_left():
            candidate = current[:start] + current[start + size :]
            tests += 1
            if candidate and fails(candidate):
                current = candidate
                granularity = max(granularity - 1, 2)
                reduced = True
                break
            start += size
        if not reduced:
            if size == 1:
                break
            granularity = min(granularity * 2, len(current))
    return current
