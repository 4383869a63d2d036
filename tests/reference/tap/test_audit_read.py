"""AUDIT_READ (spec §13.9, REQ-TAP-021) and lost-event counting (REQ-AUDIT-009)."""

from __future__ import annotations

import json

import pytest

from pqiot.reference.audit import AuditEvent, AuditLog, MemorySink
from pqiot.reference.cbor import CborValue
from pqiot.reference.tap.agent import ReferenceTestAgent
from pqiot.reference.tap.audit_buffer import AuditBuffer
from pqiot.reference.tap.codes import Command, Status

from .conftest import AgentHarness
from .test_agent_roles import _handshake

_KEYS = ["ts", "event", "severity", "peer", "suite", "detail"]


class _FullDisk:
    """A sink that fails like a full disk until ``space`` is set."""

    def __init__(self) -> None:
        self.space = False
        self.lines: list[str] = []

    def write_line(self, line: str) -> None:
        if not self.space:
            raise OSError(28, "No space left on device")
        self.lines.append(line)


def _lines(result: dict[str, CborValue]) -> list[str]:
    events = result["events"]
    assert isinstance(events, list) and all(isinstance(e, str) for e in events)
    return [str(e) for e in events]


def test_failed_writes_are_counted_and_reported_with_the_next_event() -> None:
    """REQ-AUDIT-009: the caller never sees the failure; the next line carries lost_events."""
    sink = _FullDisk()
    log = AuditLog(sink, clock=lambda: 0.0)
    log.emit(AuditEvent.REKEY, detail={"epoch": 1})
    log.emit(AuditEvent.REKEY, detail={"epoch": 2})
    assert log.lost_events == 2
    sink.space = True
    log.emit(AuditEvent.REKEY, detail={"epoch": 3})
    log.emit(AuditEvent.REKEY, detail={"epoch": 4})
    details = [json.loads(line)["detail"] for line in sink.lines]
    assert details == [{"epoch": 3, "lost_events": 2}, {"epoch": 4}]
    assert log.lost_events == 0


def test_a_working_sink_gets_no_lost_events_field() -> None:
    sink = MemorySink()
    AuditLog(sink, clock=lambda: 0.0).emit(AuditEvent.REKEY, detail={"epoch": 1})
    assert sink.records[0]["detail"] == {"epoch": 1}


def test_buffer_keeps_the_oldest_events_and_counts_the_rest() -> None:
    buffer = AuditBuffer(capacity=2)
    log = AuditLog(buffer, clock=lambda: 0.0)
    for epoch in range(1, 5):
        log.emit(AuditEvent.REKEY, detail={"epoch": epoch})
    first = buffer.read(65536)
    assert [json.loads(e)["detail"]["epoch"] for e in _lines(first)] == [1, 2]
    assert (first["lost"], first["more"]) == (2, False)
    log.emit(AuditEvent.REKEY, detail={"epoch": 5})
    second = buffer.read(65536)
    assert [json.loads(e)["detail"] for e in _lines(second)] == [{"epoch": 5, "lost_events": 2}]
    assert second["lost"] == 0


def test_read_stops_at_the_response_size_and_says_more() -> None:
    buffer = AuditBuffer(capacity=10)
    log = AuditLog(buffer, clock=lambda: 0.0)
    for epoch in range(10):
        log.emit(AuditEvent.REKEY, detail={"epoch": epoch})
    size = len(buffer._lines[0])  # every line here has the same length
    part = buffer.read(64 + 3 * (size + 3))
    assert len(_lines(part)) == 3 and part["more"] is True
    rest = buffer.read(65536)
    assert len(_lines(rest)) == 7 and rest["more"] is False


def test_buffer_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        AuditBuffer(capacity=0)


def test_identify_lists_audit_read(tap: AgentHarness) -> None:
    assert Command.AUDIT_READ in tap.ok(Command.IDENTIFY)["commands"]


def test_handshake_events_come_out_once_in_schema_order() -> None:
    """REQ-TAP-021 / REQ-AUDIT-001, -007: whole JSON lines, keys in order, removed once read."""
    initiator, responder = AgentHarness(), AgentHarness()
    _handshake(initiator, responder)
    read = initiator.ok(Command.AUDIT_READ)
    assert (read["lost"], read["more"]) == (0, False)
    records = [json.loads(line) for line in read["events"]]
    assert all(list(r) == _KEYS for r in records)
    assert all("\n" not in line for line in read["events"])
    assert "handshake_completed" in [r["event"] for r in records]
    assert initiator.ok(Command.AUDIT_READ)["events"] == []


def test_full_agent_buffer_reports_lost_events() -> None:
    initiator = AgentHarness(ReferenceTestAgent(audit_capacity=1))
    responder = AgentHarness()
    _handshake(initiator, responder)  # peer_authenticated + handshake_completed: one is lost
    read = initiator.ok(Command.AUDIT_READ)
    assert len(read["events"]) == 1 and read["lost"] >= 1


def test_reset_all_empties_the_buffer_and_sessions_keeps_it() -> None:
    initiator, responder = AgentHarness(), AgentHarness()
    _handshake(initiator, responder)
    initiator.ok(Command.RESET, {"scope": "sessions"})
    assert initiator.ok(Command.AUDIT_READ)["events"] != []
    _handshake(initiator, AgentHarness())
    initiator.ok(Command.RESET, {"scope": "all"})
    assert initiator.ok(Command.AUDIT_READ) == {"events": [], "lost": 0, "more": False}


def test_audit_read_ignores_unknown_arguments(tap: AgentHarness) -> None:
    status, result = tap(Command.AUDIT_READ, {"max": 3})
    assert status == Status.OK and result == {"events": [], "lost": 0, "more": False}
