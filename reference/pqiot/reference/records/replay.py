"""Sliding replay window over Partial IVs (RFC 8613 §7.4, D4).

``check`` and ``accept`` are separate on purpose: a record is looked up
before decryption (cheap rejection) but marked as seen only after its tag
verified, so a forged record can never burn a legitimate sequence number.
"""

from __future__ import annotations

__all__ = ["DEFAULT_WINDOW_SIZE", "MIN_WINDOW_SIZE", "ReplayWindow"]

MIN_WINDOW_SIZE = 64
DEFAULT_WINDOW_SIZE = 64


class ReplayWindow:
    """Remembers the highest accepted sequence number and a bitmap of the ``size`` below it.

    Anything older than the window is rejected (we cannot tell whether it was
    seen), anything newer is accepted, anything inside is accepted once.
    """

    def __init__(self, size: int = DEFAULT_WINDOW_SIZE) -> None:
        if size < MIN_WINDOW_SIZE:
            raise ValueError(
                f"replay window size must be at least {MIN_WINDOW_SIZE} (D4), got {size}"
            )
        self._size = size
        self._highest: int | None = None
        self._seen = 0  # bit i set <=> (highest - i) was accepted

    @property
    def size(self) -> int:
        return self._size

    @property
    def highest(self) -> int | None:
        """Highest accepted (or, after :meth:`reject_up_to`, blocked) sequence number."""
        return self._highest

    def check(self, sequence_number: int) -> bool:
        """True if ``sequence_number`` would be fresh; does not change state."""
        if sequence_number < 0:
            return False
        if self._highest is None or sequence_number > self._highest:
            return True
        offset = self._highest - sequence_number
        if offset >= self._size:
            return False
        return not (self._seen >> offset) & 1

    def accept(self, sequence_number: int) -> None:
        """Mark ``sequence_number`` as seen; call only after the record authenticated."""
        if not self.check(sequence_number):
            raise ValueError(
                f"sequence number {sequence_number} is a replay or too old; call check() first"
            )
        if self._highest is None:
            self._seen = 1
            self._highest = sequence_number
        elif sequence_number > self._highest:
            shift = sequence_number - self._highest
            self._seen = (
                ((self._seen << shift) | 1) & ((1 << self._size) - 1) if shift < self._size else 1
            )
            self._highest = sequence_number
        else:
            self._seen |= 1 << (self._highest - sequence_number)

    def reject_up_to(self, sequence_number: int) -> None:
        """Treat every number <= ``sequence_number`` as seen (restart from a persisted bound)."""
        if self._highest is not None and sequence_number <= self._highest:
            return
        self._highest = sequence_number
        self._seen = (1 << self._size) - 1
