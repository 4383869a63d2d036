"""Alerts, defaults and states of the TAP role commands (spec §13.5 clarifications, REQ-TAP-013)."""

from __future__ import annotations

from typing import Any

import pytest

from pqiot.reference import cbor
from pqiot.reference.errors import Alert
from pqiot.reference.identity import Identity
from pqiot.reference.tap.codes import Command, Status
from pqiot.reference.tap.peer_errors import peer_alert

from .conftest import ALICE, BOB, AgentHarness
from .conftest import identity as _identity
from .conftest import load_pair as _load
from .test_agent_roles import SUITE, _handshake

CAROL: Identity = _identity("carol")
ALERT_NAMES = {alert.value for alert in Alert}


def _start(tap: AgentHarness, role: str, kid: bytes, **options: object) -> dict[str, Any]:
    return tap.ok(Command.SESSION_START, {"role": role, "method": 0, "cred": kid, **options})


def test_app_send_above_the_record_limit_is_message_too_large() -> None:
    """REQ-TAP-013: the record layer's message_too_large is status 7, not status 9."""
    initiator, responder = AgentHarness(), AgentHarness()
    si, _, _ = _handshake(initiator, responder)
    limit = initiator.agent.limits.max_record_plaintext
    status, result = initiator(Command.APP_SEND, {"session": si, "data": bytes(limit + 1)})
    assert status == Status.PROTOCOL_ALERT, result
    assert (result["alert"], result["out"], result["state"]) == ("message_too_large", [], "DONE")
    assert len(initiator.ok(Command.APP_SEND, {"session": si, "data": b"x"})["out"]) == 1


@pytest.mark.parametrize(
    ("err_code", "err_info", "alert"),
    [
        (1, "authentication_failed: peer signature", Alert.AUTHENTICATION_FAILED),
        (1, "decode_error", Alert.DECODE_ERROR),
        (1, "no_such_alert: made up", Alert.UNSPECIFIED_ERROR),
        (1, 17, Alert.UNSPECIFIED_ERROR),
        (2, [-102], Alert.WRONG_SELECTED_CIPHER_SUITE),
        (3, True, Alert.UNKNOWN_CREDENTIAL),
        (42, "tofu_disabled", Alert.TOFU_DISABLED),
        (42, b"\x01", Alert.UNSPECIFIED_ERROR),
    ],
)
def test_peer_alert_is_the_alert_the_error_message_names(
    err_code: int, err_info: cbor.CborValue, alert: Alert
) -> None:
    """§10.1: ERR_INFO names the alert, unknown names are unspecified_error (REQ-ERR-002).

    An unknown ERR_CODE is read like ERR_CODE 1 (REQ-HS-023).
    """
    assert peer_alert(err_code, err_info) is alert


def test_received_error_is_reported_by_its_alert_name_and_not_answered(tap: AgentHarness) -> None:
    """REQ-ERR-001: never 'peer_error'; REQ-HS-022: nothing is sent back."""
    kid = _load(tap, BOB, ALICE)
    session = _start(tap, "initiator", kid, suites=[SUITE])["session"]
    error = cbor.encode_sequence(1, "authentication_failed: bad signature")
    status, result = tap(Command.SESSION_DELIVER, {"session": session, "msg": error})
    assert status == Status.PROTOCOL_ALERT
    assert (result["alert"], result["out"], result["state"]) == (
        "authentication_failed",
        [],
        "FAILED",
    )


def test_session_start_without_suites_offers_suite_minus_102_alone(tap: AgentHarness) -> None:
    """REQ-SUITE-003 via §13.5: SUITES_I = -102 as a single int (CBOR 38 65)."""
    kid = _load(tap, ALICE, BOB)
    message_1 = _start(tap, "initiator", kid)["out"][0]
    assert message_1[:3] == b"\x00\x38\x65", message_1[:4].hex()


def test_responder_without_suites_completes_a_minus_102_handshake() -> None:
    initiator, responder = AgentHarness(), AgentHarness()
    kid_i, kid_r = _load(initiator, ALICE, BOB), _load(responder, BOB, ALICE)
    started = _start(initiator, "initiator", kid_i, suites=[SUITE])
    sr = _start(responder, "responder", kid_r)["session"]
    message_2 = responder.ok(Command.SESSION_DELIVER, {"session": sr, "msg": started["out"][0]})
    reply = initiator.ok(
        Command.SESSION_DELIVER, {"session": started["session"], "msg": message_2["out"][0]}
    )
    done = responder.ok(Command.SESSION_DELIVER, {"session": sr, "msg": reply["out"][0]})
    assert done["state"] == "DONE"
    assert responder.ok(Command.SESSION_INFO, {"session": sr})["suite"] == SUITE


def test_expected_peer_refuses_another_trusted_responder() -> None:
    """REQ-HS-011: SESSION_START peer = Carol's kid; Bob (also trusted) answers: authentication_failed."""
    initiator, responder = AgentHarness(), AgentHarness()
    kid_i, kid_r = _load(initiator, ALICE, BOB), _load(responder, BOB, ALICE)
    carol = initiator.ok(Command.CRED_LOAD, {"slot": "peer", "ccs": CAROL.credential.cred})["kid"]
    started = _start(initiator, "initiator", kid_i, suites=[SUITE], peer=carol)
    sr = _start(responder, "responder", kid_r, suites=[SUITE])["session"]
    message_2 = responder.ok(Command.SESSION_DELIVER, {"session": sr, "msg": started["out"][0]})
    status, result = initiator(
        Command.SESSION_DELIVER, {"session": started["session"], "msg": message_2["out"][0]}
    )
    assert status == Status.PROTOCOL_ALERT
    assert (result["alert"], result["state"]) == ("authentication_failed", "FAILED")
    code, info = cbor.decode_sequence(result["out"][0])
    assert code == 1 and str(info).startswith("authentication_failed"), (code, info)


def test_expected_peer_that_answers_completes() -> None:
    initiator, responder = AgentHarness(), AgentHarness()
    bob_kid = _load(responder, BOB, ALICE)
    kid_i = _load(initiator, ALICE, BOB)
    si, _, state = _handshake_with(initiator, responder, kid_i, bob_kid, peer=bob_kid)
    assert state == "DONE"
    assert initiator.ok(Command.SESSION_INFO, {"session": si})["peer_kid"] == bob_kid


def _handshake_with(
    initiator: AgentHarness,
    responder: AgentHarness,
    kid_i: bytes,
    kid_r: bytes,
    **options: object,
) -> tuple[int, int, str]:
    started = _start(initiator, "initiator", kid_i, suites=[SUITE], **options)
    sr = _start(responder, "responder", kid_r, suites=[SUITE])["session"]
    si = started["session"]
    assert isinstance(si, int) and isinstance(sr, int)
    message_2 = responder.ok(Command.SESSION_DELIVER, {"session": sr, "msg": started["out"][0]})
    message_3 = initiator.ok(Command.SESSION_DELIVER, {"session": si, "msg": message_2["out"][0]})
    done = responder.ok(Command.SESSION_DELIVER, {"session": sr, "msg": message_3["out"][0]})
    return si, sr, str(done["state"])


def test_session_deliver_in_done_reaches_the_session() -> None:
    """§13.5: SESSION_DELIVER is valid in DONE; a stray message is dropped: status 0, nothing sent."""
    initiator, responder = AgentHarness(), AgentHarness()
    si, _, _ = _handshake(initiator, responder)
    stray = cbor.encode(bytes(range(24)))
    result = initiator.ok(Command.SESSION_DELIVER, {"session": si, "msg": stray})
    assert (result["out"], result["state"]) == ([], "DONE")
    initiator.ok(Command.SESSION_CLOSE, {"session": si})
    status, _ = initiator(Command.SESSION_DELIVER, {"session": si, "msg": stray})
    assert status == Status.INVALID_STATE, "a closed session is unknown"


def test_every_status_7_names_one_of_the_fourteen_alerts(tap: AgentHarness) -> None:
    """REQ-ERR-001 / REQ-TAP-013 over a few failure paths of different commands."""
    kid = _load(tap, ALICE, BOB)
    session = _start(tap, "responder", kid, suites=[SUITE])["session"]
    for message in (b"\xff", cbor.encode_sequence(1, "weird"), cbor.encode_sequence(3, True)):
        fresh = _start(tap, "responder", kid, suites=[SUITE])["session"]
        status, result = tap(Command.SESSION_DELIVER, {"session": fresh, "msg": message})
        assert status == Status.PROTOCOL_ALERT and result["alert"] in ALERT_NAMES, result
    status, result = tap(Command.SESSION_DELIVER, {"session": session, "msg": b"\x00"})
    assert status == Status.PROTOCOL_ALERT and result["alert"] in ALERT_NAMES, result
