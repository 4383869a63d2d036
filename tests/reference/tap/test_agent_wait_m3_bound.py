"""REQ-HS-036 in the reference agent: at most 8 Responder sessions in WAIT_M3, then `busy`."""

from __future__ import annotations

from pqiot.reference import cbor
from pqiot.reference.tap.codes import Command, Status
from pqiot.reference.tap.roles import MAX_SESSIONS, WAIT_M3_BOUND

from .conftest import ALICE, BOB, AgentHarness
from .conftest import load_pair as _load

SUITE = -102


def _message_1(initiator: AgentHarness, kid: bytes) -> tuple[int, bytes]:
    started = initiator.ok(
        Command.SESSION_START, {"role": "initiator", "method": 0, "suites": [SUITE], "cred": kid}
    )
    return started["session"], bytes(started["out"][0])


def test_the_session_table_is_larger_than_the_bound() -> None:
    """Otherwise TAP status 8 would hide the protocol's busy answer."""
    assert WAIT_M3_BOUND == 8 and MAX_SESSIONS > WAIT_M3_BOUND + 1


def test_ninth_message_1_is_answered_busy_and_a_freed_place_is_reused() -> None:
    initiator, responder = AgentHarness(), AgentHarness()
    kid_i, kid_r = _load(initiator, ALICE, BOB), _load(responder, BOB, ALICE)
    start = {"role": "responder", "method": 0, "suites": [SUITE], "cred": kid_r}
    waiting = []
    for _ in range(WAIT_M3_BOUND):
        session = responder.ok(Command.SESSION_START, start)["session"]
        own, message_1 = _message_1(initiator, kid_i)
        reply = responder.ok(Command.SESSION_DELIVER, {"session": session, "msg": message_1})
        assert reply["state"] == "WAIT_M3"
        waiting.append((session, own, bytes(reply["out"][0])))

    refused = responder.ok(Command.SESSION_START, start)["session"]
    status, result = responder(
        Command.SESSION_DELIVER, {"session": refused, "msg": _message_1(initiator, kid_i)[1]}
    )
    assert (status, result["alert"], result["state"]) == (
        Status.PROTOCOL_ALERT,
        "unspecified_error",
        "FAILED",
    )
    assert [cbor.decode_sequence(m) for m in result["out"]] == [[1, "unspecified_error: busy"]]

    # One waiting session completes: the bound has room again.
    session, own, message_2 = waiting[0]
    message_3 = initiator.ok(Command.SESSION_DELIVER, {"session": own, "msg": message_2})["out"]
    done = responder.ok(Command.SESSION_DELIVER, {"session": session, "msg": message_3[0]})
    assert done["state"] == "DONE"
    again = responder.ok(Command.SESSION_START, start)["session"]
    reply = responder.ok(
        Command.SESSION_DELIVER, {"session": again, "msg": _message_1(initiator, kid_i)[1]}
    )
    assert reply["state"] == "WAIT_M3"
