"""Durable sequence-number bounds, written "K ahead" (D4, after RFC 8613 App. B.1).

Writing every sequence number would wear out flash and cost an fsync per
record; writing only every K-th *bound* costs one write per K records and
still guarantees, across any crash, that

* a sender never reuses a Partial IV: it persists ``SSN + K`` *before* using
  any SSN at or beyond the stored bound, and resumes from the stored bound;
* a recipient never accepts a replay: it persists ``PIV + K`` *before*
  accepting any PIV above the stored bound, and after restart rejects every
  PIV <= the stored bound.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from pqiot.reference.storage import atomic_write_bytes

__all__ = [
    "DEFAULT_K",
    "MAX_K",
    "FileSequenceStore",
    "MemorySequenceStore",
    "RecipientBound",
    "SenderSequence",
    "SequenceStore",
]

DEFAULT_K = 32
#: Spec §7.7: K is configurable 1..2^16.
MAX_K = 1 << 16


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise ValueError(f"persistence step K must be 1..{MAX_K} (spec §7.7), got {k}")


class SequenceStore(Protocol):
    """Durable map from a state name to a non-negative integer bound.

    ``store`` must be durable when it returns (that is the whole point).
    """

    def load(self, name: str) -> int | None: ...

    def store(self, name: str, value: int) -> None: ...

    def delete(self, name: str) -> None: ...


class MemorySequenceStore:
    """In-process store for tests and for deployments that re-handshake after every restart."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.writes = 0

    def load(self, name: str) -> int | None:
        return self.values.get(name)

    def store(self, name: str, value: int) -> None:
        self.values[name] = value
        self.writes += 1

    def delete(self, name: str) -> None:
        self.values.pop(name, None)


class FileSequenceStore:
    """All bounds of one endpoint in one JSON file, replaced atomically on every write."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._values: dict[str, int] = {}
        if self._path.exists():
            try:
                raw = json.loads(self._path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(
                    f"sequence store {self._path} is unreadable ({exc}); restore it from backup or "
                    "delete it and re-run the handshake so fresh keys are used"
                ) from exc
            if not isinstance(raw, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
                for k, v in raw.items()
            ):
                raise ValueError(
                    f"sequence store {self._path} does not hold a name -> non-negative int map"
                )
            self._values = dict(raw)

    def load(self, name: str) -> int | None:
        return self._values.get(name)

    def store(self, name: str, value: int) -> None:
        updated = dict(self._values, **{name: value})
        atomic_write_bytes(self._path, json.dumps(updated, sort_keys=True).encode("utf-8"))
        self._values = updated

    def delete(self, name: str) -> None:
        if name in self._values:
            updated = {k: v for k, v in self._values.items() if k != name}
            atomic_write_bytes(self._path, json.dumps(updated, sort_keys=True).encode("utf-8"))
            self._values = updated


class SenderSequence:
    """Hands out Sender Sequence Numbers, persisting the bound K ahead of use.

    Stored value S means "every SSN < S may have been used"; a restart resumes at S.
    The same rule keeps any monotonic counter (count_v, REQ-KU-013) from going
    backwards across a restart.
    """

    def __init__(
        self,
        store: SequenceStore,
        name: str,
        k: int = DEFAULT_K,
        limit: int = 1 << 40,
        *,
        store_initial_bound: bool = True,
    ) -> None:
        _check_k(k)
        self._store, self._name, self._k, self._limit = store, name, k, limit
        stored = store.load(name)
        self.restored = stored is not None
        if stored is None and store_initial_bound:
            # REQ-REPLAY-006: the bound starts at K when the context is created
            self._next, self._bound = 0, min(k, limit)
            store.store(name, self._bound)
        elif stored is None:  # nothing used yet: the first take() writes the first bound
            self._next = self._bound = 0
        else:  # REQ-REPLAY-007: resume at the stored bound
            self._next = self._bound = stored

    @property
    def next_value(self) -> int:
        """The SSN the next :meth:`take` returns."""
        return self._next

    def take(self) -> int:
        """Return a never-used SSN (persisting a new bound first when needed)."""
        ssn = self._next
        if ssn >= self._limit:
            raise OverflowError(
                f"sender sequence numbers exhausted ({self._limit}); "
                "run a key update or a new handshake"
            )
        if ssn >= self._bound:
            bound = min(ssn + self._k, self._limit)
            self._store.store(self._name, bound)
            self._bound = bound
        self._next = ssn + 1
        return ssn

    def forget(self) -> None:
        """Drop the persisted bound (the context is discarded for good)."""
        self._store.delete(self._name)


class RecipientBound:
    """Persists "highest accepted + K" so that a restarted recipient rejects every old PIV.

    Stored value R means "no PIV > R was accepted"; after restart all PIV <= R are replays.
    """

    def __init__(self, store: SequenceStore, name: str, k: int = DEFAULT_K) -> None:
        _check_k(k)
        self._store, self._name, self._k = store, name, k
        self._restored = self._bound = store.load(name)

    @property
    def restored_bound(self) -> int | None:
        """Bound found at start-up (every PIV <= it is a replay); None for a fresh context."""
        return self._restored

    def before_accept(self, sequence_number: int) -> None:
        """Make the bound cover ``sequence_number`` durably; call right before accepting it."""
        if self._bound is None or sequence_number > self._bound:
            bound = sequence_number + self._k
            self._store.store(self._name, bound)
            self._bound = bound

    def forget(self) -> None:
        self._store.delete(self._name)
