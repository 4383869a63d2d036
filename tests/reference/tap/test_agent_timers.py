"""Session timers observable through TAP (REQ-HS-037, REQ-KU-006; spec §13.5 "Timers").

The agent's clock is injected, so 30 s of handshake timer take no time here.
"""

from __future__ import annotations

import pytest

from pqiot.reference import cbor
from pqiot.reference.records.record import ContentType
from pqiot.reference.tap.agent import ReferenceTestAgent
from pqiot.reference.tap.codes import Command, Status

from .conftest import ALICE, BOB, AgentHarness
from .conftest import load_pair as _load
from .test_agent_roles import SUITE, _handshake


class FakeClock:
    """Seconds since the epoch that move only when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _harness(clock: FakeClock) -> AgentHarness:
    return AgentHarness(ReferenceTestAgent(clock=clock))


def test_wait_m2_expires_after_30_seconds_without_sending(clock: FakeClock) -> None:
    """REQ-HS-037: WAIT_M2 at 29.9 s, FAILED at 30 s, and the expiry sends nothing."""
    tap = _harness(clock)
    kid = _load(tap, ALICE, BOB)
    session = tap.ok(
        Command.SESSION_START, {"role": "initiator", "method": 0, "suites": [SUITE], "cred": kid}
    )["session"]
    clock.now += 29.9
    assert tap.ok(Command.SESSION_INFO, {"session": session})["state"] == "WAIT_M2"
    clock.now += 0.1
    assert tap.ok(Command.SESSION_INFO, {"session": session})["state"] == "FAILED"
    late = cbor.encode_sequence(1, "unspecified_error")
    status, result = tap(Command.SESSION_DELIVER, {"session": session, "msg": late})
    assert status == Status.PROTOCOL_ALERT, "the expiry is reported once, by the next command"
    assert (result["out"], result["state"]) == ([], "FAILED")
    assert tap.ok(Command.SESSION_DELIVER, {"session": session, "msg": late}) == {
        "out": [],
        "state": "FAILED",
    }, "after the report a FAILED session drops input silently"


def test_any_command_runs_the_timers(clock: FakeClock) -> None:
    """Expiry needs no traffic on the session: an ECHO is enough to move it to FAILED."""
    tap = _harness(clock)
    kid = _load(tap, BOB, ALICE)
    session = tap.ok(
        Command.SESSION_START, {"role": "responder", "method": 0, "suites": [SUITE], "cred": kid}
    )["session"]
    clock.now += 31
    tap.ok(Command.ECHO, {"data": b"tick"})
    info = tap.ok(Command.SESSION_INFO, {"session": session})
    assert info["state"] == "FAILED"


def test_unanswered_key_update_closes_with_key_update_failed(clock: FakeClock) -> None:
    """REQ-KU-006: 10 s after KEY_UPDATE without an epoch-1 record: one close record, FAILED."""
    initiator, responder = _harness(clock), _harness(clock)
    si, sr, _ = _handshake(initiator, responder)
    update = initiator.ok(Command.KEY_UPDATE, {"session": si, "nonce": bytes(16)})["out"]
    assert len(update) == 1
    # The responder takes the update; its ack is lost, so no epoch-1 record reaches us.
    responder.ok(Command.APP_RECEIVE, {"session": sr, "record": update[0]})
    clock.now += 9.9
    assert initiator.ok(Command.SESSION_INFO, {"session": si})["state"] == "DONE"
    clock.now += 0.2
    status, result = initiator(Command.APP_SEND, {"session": si, "data": b"too late"})
    assert status == Status.PROTOCOL_ALERT
    assert (result["alert"], result["state"]) == ("key_update_failed", "FAILED")
    assert len(result["out"]) == 1, "exactly the close record; the key_update is not resent"
    received = responder.ok(Command.APP_RECEIVE, {"session": sr, "record": result["out"][0]})
    assert received["content_type"] == ContentType.CLOSE
    export = {"session": si, "label": 40000, "context": b"", "len": 16}
    assert initiator(Command.EXPORT, export)[0] == Status.INVALID_STATE


def test_close_after_an_unreported_expiry_returns_the_close_record(clock: FakeClock) -> None:
    initiator, responder = _harness(clock), _harness(clock)
    si, _, _ = _handshake(initiator, responder)
    initiator.ok(Command.KEY_UPDATE, {"session": si, "nonce": bytes(16)})
    clock.now += 11
    closed = initiator.ok(Command.SESSION_CLOSE, {"session": si})
    assert len(closed["out"]) == 1


def test_answered_key_update_does_not_expire(clock: FakeClock) -> None:
    initiator, responder = _harness(clock), _harness(clock)
    si, sr, _ = _handshake(initiator, responder)
    update = initiator.ok(Command.KEY_UPDATE, {"session": si, "nonce": bytes(16)})["out"]
    ack = responder.ok(Command.APP_RECEIVE, {"session": sr, "record": update[0]})["out"]
    initiator.ok(Command.APP_RECEIVE, {"session": si, "record": ack[0]})
    clock.now += 60
    assert initiator.ok(Command.SESSION_INFO, {"session": si})["state"] == "DONE"
    assert len(initiator.ok(Command.APP_SEND, {"session": si, "data": b"x"})["out"]) == 1
