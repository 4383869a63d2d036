"""The agent's audit log as TAP sees it: a bounded buffer AUDIT_READ drains (§13.3, REQ-TAP-021).

Why a bounded buffer: a device cannot keep an unbounded log in RAM, and a
tester that never reads must not exhaust it. When the buffer is full a new
event is *lost*, exactly like a failed write to any other sink: the
:class:`~pqiot.reference.audit.AuditLog` counts it and puts the count into the
next event it manages to write (``detail.lost_events``, REQ-AUDIT-009), and
AUDIT_READ reports how many were lost since the previous read (``lost``).
"""

from __future__ import annotations

from collections import deque

from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue

__all__ = ["DEFAULT_AUDIT_CAPACITY", "AuditBuffer", "AuditBufferFull"]

#: Events the reference agent buffers between two AUDIT_READs.
DEFAULT_AUDIT_CAPACITY = 64
#: Bytes of a response besides the event strings: header, keys, ``lost``, ``more``.
_RESPONSE_OVERHEAD = 64


class AuditBufferFull(OSError):
    """The buffer holds ``capacity`` events; the event was not stored."""


class AuditBuffer:
    """An :class:`~pqiot.reference.audit.AuditSink` holding at most ``capacity`` lines."""

    def __init__(self, capacity: int = DEFAULT_AUDIT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("the audit buffer must hold at least one event")
        self.capacity = capacity
        self._lines: deque[str] = deque()
        self._lost = 0

    def __len__(self) -> int:
        return len(self._lines)

    def write_line(self, line: str) -> None:
        if len(self._lines) >= self.capacity:
            self._lost += 1
            raise AuditBufferFull(f"audit buffer full ({self.capacity} events); read it with TAP")
        self._lines.append(line)

    def clear(self) -> None:
        self._lines.clear()
        self._lost = 0

    def read(self, max_response: int) -> dict[str, CborValue]:
        """AUDIT_READ: the oldest events that fit ``max_response`` bytes, removed from the buffer.

        ``more`` says events remain (the response was full); ``lost`` counts the
        events dropped since the previous read because the buffer was full.
        """
        budget = max_response - _RESPONSE_OVERHEAD
        events: list[CborValue] = []
        while self._lines:
            size = len(cbor.encode(self._lines[0]))
            if size > budget and events:
                break
            budget -= size
            events.append(self._lines.popleft())
        lost, self._lost = self._lost, 0
        return {"events": events, "lost": lost, "more": bool(self._lines)}
