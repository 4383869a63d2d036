"""Randomness sources: the system RNG for real use, a SHAKE128 stream for vectors.

Every primitive takes its randomness as an :data:`~.interfaces.Rng` callable so
that conformance vectors (and the accumulated-vector mode of the Test Agent
Protocol) can replay exactly the same "random" bytes on host and device.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["ShakeRng", "system_rng"]


def system_rng(n: int) -> bytes:
    """Return ``n`` bytes from the operating system's CSPRNG (``os.urandom``)."""
    if n < 0:
        raise ValueError(f"cannot draw a negative number of random bytes ({n})")
    return os.urandom(n)


class ShakeRng:
    """Deterministic byte stream: SHAKE128(seed), read front to back.

    Successive calls continue the stream (``rng(3) + rng(5) == first 8 bytes``),
    which is what C2SP/CCTV "accumulated" vectors and Go's ``sha3.ShakeHash.Read``
    do. ``hashlib`` cannot squeeze incrementally, so the already produced prefix
    is kept and regrown geometrically (amortised linear cost).
    """

    _MIN_CHUNK = 4096

    def __init__(self, seed: bytes = b"") -> None:
        self._xof = hashlib.shake_128(bytes(seed))
        self._buffer = b""
        self._offset = 0

    @property
    def position(self) -> int:
        """Number of bytes handed out so far."""
        return self._offset

    def __call__(self, n: int) -> bytes:
        if n < 0:
            raise ValueError(f"cannot draw a negative number of random bytes ({n})")
        end = self._offset + n
        if end > len(self._buffer):
            self._buffer = self._xof.digest(max(end, 2 * len(self._buffer), self._MIN_CHUNK))
        out = self._buffer[self._offset : end]
        self._offset = end
        return out
