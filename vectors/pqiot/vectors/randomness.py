"""Recorded randomness: what the generator draws is what the verifier injects.

The generator wraps a :class:`~pqiot.reference.crypto.rng.ShakeRng` in a
:class:`RecordingRng`; the vector stores each draw. The verifier replays the
draws with :class:`ReplayRng`, which also checks that the implementation asks
for the same sizes in the same order (a different order is a different
protocol run, and is reported as such).
"""

from __future__ import annotations

from pqiot.reference.crypto.interfaces import Rng

__all__ = ["RandomnessMismatch", "RecordingRng", "ReplayRng"]


class RandomnessMismatch(AssertionError):
    """The replayed run asked for randomness the recorded run did not draw."""


class RecordingRng:
    """Pass draws through from ``inner`` and remember them."""

    def __init__(self, inner: Rng) -> None:
        self._inner = inner
        self.draws: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        out = bytes(self._inner(n))
        self.draws.append(out)
        return out


class ReplayRng:
    """Hand out recorded draws one by one; any size or count difference raises."""

    def __init__(self, draws: list[bytes], label: str) -> None:
        self._draws = list(draws)
        self._label = label
        self._next = 0

    def __call__(self, n: int) -> bytes:
        if self._next >= len(self._draws):
            raise RandomnessMismatch(
                f"{self._label}: draw {self._next} of {n} bytes, but only "
                f"{len(self._draws)} draws were recorded"
            )
        out = self._draws[self._next]
        if len(out) != n:
            raise RandomnessMismatch(
                f"{self._label}: draw {self._next} asks for {n} bytes, {len(out)} were recorded"
            )
        self._next += 1
        return out

    @property
    def unused(self) -> int:
        return len(self._draws) - self._next
