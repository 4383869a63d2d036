"""Handshake rules of spec chapter 5: identifiers, message processing, errors, negotiation.

Every test is a negative or boundary conversation (sanity handshakes run
around it). Faults the reference would never produce (a message_2 with
C_R = C_I, an unsupported critical EAD item) are built with the traced
reference of :mod:`pqiot.conformance.handshake_probes`, so the device meets
exactly the fault under test and nothing else.
"""

from __future__ import annotations

import time

import pytest

from pqiot.conformance.conversation import (
    error_message,
    expect_alert,
    expect_status,
    provision,
    run_handshake,
    start_session,
)
from pqiot.conformance.device import Device
from pqiot.conformance.handshake_probes import (
    Outcome,
    UnequalId,
    alert_in_err_info,
    deliver,
    device_initiator,
    device_responder,
    drive,
    initiator_peer_for,
    reencrypt_message_2,
    responder_peer_for,
    start_sending_credential_by_value,
)
from pqiot.conformance.peer import Party, ReferencePeer, stranger, suite_parties
from pqiot.hil.client import StatusError
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.edhoc.wire import EadItem
from pqiot.reference.tap.codes import Status

pytestmark = pytest.mark.conversation
SUITE = -102


def _needs_role(device: Device, role: str) -> None:
    if role not in device.statement.roles:
        pytest.skip(f"not applicable: role {role} not declared")


def _needs_suites(device: Device, *suites: int) -> None:
    missing = [s for s in suites if s not in device.statement.suites]
    if missing:
        pytest.skip(f"needs suites {missing} declared")


def _assert_error_sent(result: dict[str, object], alert: str) -> None:
    """Exactly one EDHOC error message on the wire: ERR_CODE 1 naming ``alert`` (REQ-HS-019)."""
    code, info = error_message(result.get("out"))
    assert code == 1, f"expected ERR_CODE 1 for {alert}, got {code} ({info!r})"
    assert alert_in_err_info(info) == alert, f"ERR_INFO {info!r} does not name {alert}"


def _assert_aborted_silently(outcome: Outcome, what: str) -> None:
    """The session ended without anything on the wire (REQ-HS-022, REQ-HS-023)."""
    assert outcome.status == Status.PROTOCOL_ALERT, (
        f"{what}: expected the session to abort (status 7), got {outcome.summary()}"
    )
    assert outcome.out == [], f"{what}: nothing may be sent, got {outcome.summary()}"
    assert outcome.state == "FAILED", f"{what}: state {outcome.state!r}, expected FAILED"


def _error(code: int, info: CborValue) -> bytes:
    return cbor.encode_sequence(code, info)


# -- connection identifiers (REQ-HS-002, REQ-HS-005, REQ-HS-009) --------------------


@pytest.mark.requirement("REQ-HS-002", "REQ-HS-021")
def test_one_byte_bstr_c_i_that_encodes_an_int_is_refused(device: Device) -> None:
    """C_I = h'0a' sent as the bstr ``41 0a`` instead of the int ``0a``: decode_error."""
    _needs_role(device, "responder")
    items = cbor.decode_sequence(initiator_peer_for(SUITE).handshake_out()[0])
    items[3] = b"\x0a"
    message_1 = cbor.encode_sequence(*items)
    assert message_1.endswith(b"\x41\x0a")
    session, _ = device_responder(device, SUITE)
    result = expect_alert(
        lambda: device.client.session_deliver(session, message_1),
        {"decode_error"},
        "message_1 with C_I = h'0a' encoded as a byte string",
    )
    _assert_error_sent(result, "decode_error")


@pytest.mark.requirement("REQ-HS-002")
@pytest.mark.parametrize(
    ("c_id", "encoded"),
    [(b"\x0a", b"\x0a"), (b"\x2b", b"\x2b"), (b"\xa1", b"\x41\xa1"), (b"\x18", b"\x41\x18")],
    ids=["h0a-is-int-10", "h2b-is-int-minus12", "ha1-is-bstr", "h18-is-bstr"],
)
def test_own_connection_identifier_is_sent_compactly(
    device: Device, device_role: str, c_id: bytes, encoded: bytes
) -> None:
    """A one-byte identifier that is an int encoding goes as that int, any other as a bstr.

    ``h'18'`` is the first byte of a two-byte int head, not a complete int
    encoding, so it must be sent as the bstr ``41 18``.
    """
    if device_role == "initiator":
        _, message_1 = device_initiator(device, SUITE, c_id=c_id)
        assert message_1.endswith(encoded), (
            f"C_I {c_id.hex()} must end message_1 as {encoded.hex()}; message_1 ends "
            f"{message_1[-4:].hex()}"
        )
        return
    session, _ = device_responder(device, SUITE, c_id=c_id)
    # A C_I equal to the configured C_R would make the device pick another C_R
    # (REQ-HS-005); h'7f7f' is none of the parameters.
    peer = initiator_peer_for(SUITE, connection_id=b"\x7f\x7f")
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    peer.deliver(out[0])
    plaintext_2 = peer.trace["PLAINTEXT_2"]
    assert plaintext_2.startswith(encoded), (
        f"C_R {c_id.hex()} must open PLAINTEXT_2 as {encoded.hex()}, got {plaintext_2[:3].hex()}"
    )


@pytest.mark.requirement("REQ-HS-002", "REQ-HS-008", "REQ-HS-021")
def test_message_2_with_c_r_as_a_one_byte_bstr_int_encoding_is_refused(device: Device) -> None:
    """PLAINTEXT_2 opening with ``41 0a`` (C_R h'0a' as bstr) is malformed: decode_error."""
    _needs_role(device, "initiator")
    session, message_1 = device_initiator(device, SUITE)
    peer = responder_peer_for(SUITE, connection_id=b"\x0a")
    peer.deliver(message_1)
    plaintext_2 = peer.trace["PLAINTEXT_2"]
    assert plaintext_2[:1] == b"\x0a"
    forged = reencrypt_message_2(peer.trace, SUITE, b"\x41\x0a" + plaintext_2[1:])
    result = expect_alert(
        lambda: device.client.session_deliver(session, forged),
        {"decode_error"},
        "message_2 whose C_R h'0a' is encoded as a byte string",
    )
    _assert_error_sent(result, "decode_error")


@pytest.mark.requirement("REQ-HS-005")
def test_responder_never_takes_c_r_equal_to_c_i(device: Device) -> None:
    """Even when told to use h'27' as its own identifier, C_R must differ from C_I = h'27'."""
    _needs_role(device, "responder")
    session, _ = device_responder(device, SUITE, c_id=b"\x27")
    peer = initiator_peer_for(SUITE, connection_id=b"\x27")
    message_1 = peer.handshake_out()[0]
    assert message_1.endswith(b"\x27")
    out, _ = device.client.session_deliver(session, message_1)
    message_3 = peer.deliver(out[0])
    c_r = peer.trace["PLAINTEXT_2"][:1]
    assert c_r != b"\x27", "REQ-HS-005: the responder chose C_R = C_I = -8"
    _, state = device.client.session_deliver(session, message_3[0])
    assert state == "DONE"
    info = device.client.session_info(session)
    assert info.get("c_i") != info.get("c_r"), f"SESSION_INFO reports C_I = C_R: {info!r}"


@pytest.mark.requirement("REQ-HS-009", "REQ-HS-021")
def test_message_2_with_c_r_equal_to_c_i_is_refused(device: Device) -> None:
    """A correctly signed message_2 whose C_R equals C_I (-8): decode_error, never DONE."""
    _needs_role(device, "initiator")
    session, message_1 = device_initiator(device, SUITE, c_id=b"\x27")
    assert message_1.endswith(b"\x27")
    peer = responder_peer_for(SUITE, connection_id=UnequalId(b"\x27"))
    message_2 = peer.deliver(message_1)[0]
    assert peer.trace["PLAINTEXT_2"][:1] == b"\x27", "the probe failed to put C_R = -8"
    result = expect_alert(
        lambda: device.client.session_deliver(session, message_2),
        {"decode_error"},
        "message_2 with C_R = C_I",
    )
    _assert_error_sent(result, "decode_error")


# -- authentication (REQ-HS-011, REQ-HS-015) ---------------------------------------


@pytest.mark.requirement("REQ-HS-011", "REQ-HS-021")
def test_message_2_from_another_trusted_responder_is_refused(device: Device) -> None:
    """The initiator expects the stranger's kid; message_2 from another trusted peer must fail."""
    _needs_role(device, "initiator")
    kid, _ = provision(device, SUITE, "initiator")
    expected = device.client.cred_load("peer", ccs=stranger().credential.cred)
    try:
        session, out = start_session(device, "initiator", [SUITE], cred=kid, peer=expected)
    except StatusError as exc:
        if exc.status == Status.UNSUPPORTED:
            pytest.skip(f"the device does not implement SESSION_START 'peer': {exc}")
        raise
    message_2 = responder_peer_for(SUITE).deliver(out[0])[0]
    outcome = deliver(device, session, message_2)
    assert (outcome.status, outcome.alert) == (Status.PROTOCOL_ALERT, "authentication_failed"), (
        "message_2 authenticated by a trusted responder other than the expected peer must fail "
        f"with authentication_failed; got {outcome.summary()}"
    )
    _assert_error_sent(outcome.result, "authentication_failed")


@pytest.mark.requirement("REQ-HS-015")
def test_responder_neither_sends_nor_accepts_records_before_message_3(device: Device) -> None:
    """In WAIT_M3 APP_SEND and APP_RECEIVE (with a valid record) are refused, nothing is sent."""
    _needs_role(device, "responder")
    session, _ = device_responder(device, SUITE)
    peer = initiator_peer_for(SUITE)
    out, state = device.client.session_deliver(session, peer.handshake_out()[0])
    assert state == "WAIT_M3"
    message_3 = peer.deliver(out[0])
    assert peer.established, "the reference must be DONE to make a valid early record"
    early = peer.protect(b"early record")
    received = expect_status(
        lambda: device.client.app_receive(session, early),
        {Status.INVALID_STATE, Status.PROTOCOL_ALERT},
        "APP_RECEIVE of a valid record before message_3",
    )
    assert not received.get("out"), f"nothing may be sent, got {received.get('out')!r}"
    assert "data" not in received, "the early record's data must not be delivered"
    sent = expect_status(
        lambda: device.client.app_send(session, b"too early"),
        {Status.INVALID_STATE, Status.PROTOCOL_ALERT},
        "APP_SEND before message_3",
    )
    assert not sent.get("out"), f"no record may be sent before message_3: {sent.get('out')!r}"
    _, state = device.client.session_deliver(session, message_3[0])
    assert state == "DONE", "the handshake must still complete after the refused calls"


# -- message_4 absent, DONE and FAILED (REQ-HS-018, REQ-HS-033) ---------------------


def _drop_outcome_ok(outcome: Outcome, state: str, what: str) -> None:
    """Dropped: status 0 with nothing sent, or the session refusing input (status 5)."""
    assert outcome.status in (0, Status.INVALID_STATE), (
        f"{what}: must be dropped silently, got {outcome.summary()}"
    )
    assert outcome.out == [], f"{what}: nothing may be sent, got {outcome.summary()}"
    if outcome.status == 0:
        assert outcome.state == state, f"{what}: state {outcome.state!r}, expected {state}"


@pytest.mark.requirement("REQ-HS-018", "REQ-HS-033")
def test_initiator_without_message_4_drops_a_late_message_in_done(device: Device) -> None:
    _needs_role(device, "initiator")
    run = run_handshake(device, SUITE, "initiator")
    stray = cbor.encode(bytes(range(24)))
    _drop_outcome_ok(deliver(device, run.session, stray), "DONE", "a message_4-like bstr in DONE")
    assert device.client.session_info(run.session).get("state") == "DONE"
    assert run.to_device(b"still done") == b"still done"


@pytest.mark.requirement("REQ-HS-033", "REQ-HS-021")
def test_responder_in_wait_m3_refuses_a_different_message_1(device: Device) -> None:
    _needs_role(device, "responder")
    session, _ = device_responder(device, SUITE)
    device.client.session_deliver(session, initiator_peer_for(SUITE).handshake_out()[0])
    other = initiator_peer_for(SUITE).handshake_out()[0]
    result = expect_alert(
        lambda: device.client.session_deliver(session, other),
        {"unexpected_message"},
        "a second, different message_1 in WAIT_M3",
    )
    _assert_error_sent(result, "unexpected_message")
    assert result.get("state") == "FAILED"


@pytest.mark.requirement("REQ-HS-033", "REQ-HS-021")
def test_initiator_in_wait_m2_refuses_a_message_1(device: Device) -> None:
    _needs_role(device, "initiator")
    session, _ = device_initiator(device, SUITE)
    message_1 = initiator_peer_for(SUITE).handshake_out()[0]
    result = expect_alert(
        lambda: device.client.session_deliver(session, message_1),
        {"unexpected_message"},
        "a message_1 arriving at an initiator in WAIT_M2",
    )
    _assert_error_sent(result, "unexpected_message")


@pytest.mark.requirement("REQ-HS-033", "REQ-HS-034")
def test_failed_session_drops_everything(device: Device) -> None:
    """After a failure even the correct next message is dropped: FAILED is never resurrected."""
    _needs_role(device, "responder")
    session, _ = device_responder(device, SUITE)
    peer = initiator_peer_for(SUITE)
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    message_3 = peer.deliver(out[0])[0]
    expect_alert(
        lambda: device.client.session_deliver(session, message_3[:-1] + b"\x00"),
        {"decrypt_failed"},
        "message_3 with a changed last byte",
    )
    _drop_outcome_ok(deliver(device, session, message_3), "FAILED", "the genuine message_3")
    expect_status(
        lambda: device.client.export(session, 40000, b"", 16),
        {Status.INVALID_STATE},
        "EXPORT from a FAILED session",
    )


# -- EAD (REQ-HS-020) ---------------------------------------------------------------


def _critical_ead_text(label: int) -> str:
    return f"unspecified_error: unsupported critical EAD {label}"


@pytest.mark.requirement("REQ-HS-020", "REQ-HS-021")
def test_unsupported_critical_ead_1_aborts_with_the_exact_error(device: Device) -> None:
    _needs_role(device, "responder")
    session, _ = device_responder(device, SUITE)
    message_1 = initiator_peer_for(SUITE, ead=[EadItem(-100, b"\x01")]).handshake_out()[0]
    result = expect_alert(
        lambda: device.client.session_deliver(session, message_1),
        {"unspecified_error"},
        "message_1 with a critical EAD item of label -100",
    )
    assert error_message(result.get("out")) == (1, _critical_ead_text(-100))


@pytest.mark.requirement("REQ-HS-020", "REQ-HS-021")
def test_unsupported_critical_ead_2_aborts_with_the_exact_error(device: Device) -> None:
    _needs_role(device, "initiator")
    session, message_1 = device_initiator(device, SUITE)
    message_2 = responder_peer_for(SUITE, ead=[EadItem(-77, None)]).deliver(message_1)[0]
    result = expect_alert(
        lambda: device.client.session_deliver(session, message_2),
        {"unspecified_error"},
        "message_2 with a critical EAD item of label -77",
    )
    assert error_message(result.get("out")) == (1, _critical_ead_text(-77))


# -- received errors (REQ-HS-022, REQ-HS-023, REQ-HS-041, REQ-ERR-005) ----------------


@pytest.mark.requirement("REQ-HS-022", "REQ-ERR-005")
def test_responder_does_not_answer_an_error_and_discards_the_session(device: Device) -> None:
    _needs_role(device, "responder")
    session, _ = device_responder(device, SUITE)
    peer = initiator_peer_for(SUITE)
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    message_3 = peer.deliver(out[0])[0]
    outcome = deliver(device, session, _error(1, "authentication_failed"))
    _assert_aborted_silently(outcome, "ERR_CODE 1 received in WAIT_M3")
    _drop_outcome_ok(deliver(device, session, message_3), "FAILED", "message_3 after the error")
    expect_status(
        lambda: device.client.export(session, 40000, b"", 16),
        {Status.INVALID_STATE},
        "EXPORT after the peer's error",
    )


@pytest.mark.requirement("REQ-HS-022", "REQ-ERR-005")
def test_done_session_receiving_an_error_is_discarded(device: Device) -> None:
    """§5.11 DONE + recv error: discard session and keys, FAILED, nothing sent."""
    role = "responder" if "responder" in device.statement.roles else "initiator"
    run = run_handshake(device, SUITE, role)
    outcome = deliver(device, run.session, _error(1, "unspecified_error"))
    assert outcome.out == [], f"an error is never answered, got {outcome.summary()}"
    state = device.client.session_info(run.session).get("state")
    assert state == "FAILED", (
        f"after an error message in DONE the session must be FAILED, it is {state!r} "
        f"(SESSION_DELIVER status {outcome.status})"
    )
    expect_status(
        lambda: device.client.app_send(run.session, b"after the error"),
        {Status.INVALID_STATE, Status.PROTOCOL_ALERT},
        "APP_SEND after the session's keys were discarded",
    )


_MALFORMED_ERRORS = [
    pytest.param(_error(0, "unspecified_error"), id="err-code-0"),
    pytest.param(_error(1, 17), id="code-1-int-info"),
    pytest.param(_error(1, True), id="code-1-bool-info"),
    pytest.param(_error(2, "-102"), id="code-2-text-info"),
    pytest.param(_error(2, [True, 1]), id="code-2-bool-in-suites"),
    pytest.param(_error(3, "unknown_credential"), id="code-3-text-info"),
    pytest.param(_error(3, 1), id="code-3-int-info"),
]


@pytest.mark.requirement("REQ-HS-023", "REQ-HS-022")
@pytest.mark.parametrize("error", _MALFORMED_ERRORS)
def test_malformed_error_message_aborts_with_decode_error_and_sends_nothing(
    device: Device, error: bytes
) -> None:
    _needs_role(device, "initiator")
    session, _ = device_initiator(device, SUITE)
    outcome = deliver(device, session, error)
    _assert_aborted_silently(outcome, f"malformed error {error.hex()}")
    assert outcome.alert == "decode_error", f"expected decode_error, got {outcome.alert!r}"


@pytest.mark.requirement("REQ-HS-023", "REQ-HS-022")
def test_malformed_error_in_wait_m3_aborts_with_decode_error(device: Device) -> None:
    _needs_role(device, "responder")
    session, _ = device_responder(device, SUITE)
    device.client.session_deliver(session, initiator_peer_for(SUITE).handshake_out()[0])
    outcome = deliver(device, session, _error(0, "unspecified_error"))
    _assert_aborted_silently(outcome, "ERR_CODE 0 in WAIT_M3")
    assert outcome.alert == "decode_error", f"expected decode_error, got {outcome.alert!r}"


@pytest.mark.requirement("REQ-HS-023", "REQ-HS-022", "REQ-ERR-005")
def test_unknown_err_code_is_treated_like_err_code_1(device: Device) -> None:
    _needs_role(device, "initiator")
    session, _ = device_initiator(device, SUITE)
    _assert_aborted_silently(
        deliver(device, session, _error(42, "unspecified_error")), "ERR_CODE 42"
    )


_NO_RETRY_ERRORS = [
    pytest.param(_error(1, "authentication_failed"), id="authentication_failed"),
    pytest.param(_error(1, "tofu_disabled"), id="tofu_disabled"),
    pytest.param(_error(1, "unsupported_method: method 0"), id="unsupported_method"),
    pytest.param(_error(3, True), id="unknown_credential"),
    pytest.param(_error(1, "an_alert_nobody_defined: busy"), id="unknown-alert-name"),
]


@pytest.mark.requirement("REQ-HS-041", "REQ-HS-022", "REQ-ERR-005")
@pytest.mark.parametrize("error", _NO_RETRY_ERRORS)
def test_initiator_does_not_retry_after_a_configuration_error(device: Device, error: bytes) -> None:
    """No new message_1 (and no error reply) after an alert that needs a configuration change."""
    _needs_role(device, "initiator")
    session, _ = device_initiator(device, SUITE)
    _assert_aborted_silently(deliver(device, session, error), f"error {error.hex()}")


# -- negotiation (REQ-HS-029 .. REQ-HS-032) ------------------------------------------


def _retried_message_1(device: Device, session: int, error: bytes) -> bytes:
    """The new message_1 sent in answer to ``error``; skip if the device does not retry.

    REQ-HS-029 makes the retry optional (MAY); what a retry must look like is
    only checkable on a device that makes one.
    """
    outcome = deliver(device, session, error)
    if outcome.status == Status.PROTOCOL_ALERT and outcome.out == []:
        pytest.skip(f"the device does not use the optional retry: {outcome.summary()}")
    assert outcome.status == 0 and len(outcome.out) == 1, (
        f"expected one new message_1 (or an abort) after ERR_CODE 2, got {outcome.summary()}"
    )
    assert outcome.state == "WAIT_M2", f"state {outcome.state!r} after the retry"
    return outcome.out[0]


def _suites_i(message_1: bytes) -> CborValue:
    return cbor.decode_sequence(message_1)[1]


def _g_x(message_1: bytes) -> bytes:
    g_x = cbor.decode_sequence(message_1)[2]
    assert isinstance(g_x, bytes)
    return g_x


@pytest.mark.requirement("REQ-HS-029", "REQ-HS-001", "REQ-SUITE-006")
def test_initiator_retries_once_with_the_suite_from_suites_r(device: Device) -> None:
    """[-105, -102] offered; ERR_CODE 2 with SUITES_R -102: retry [-105, -102], fresh G_X, DONE."""
    _needs_role(device, "initiator")
    _needs_suites(device, -105, -102)
    session, first = device_initiator(device, SUITE, suites=[-105, -102])
    assert _suites_i(first) == -105, f"first SUITES_I {_suites_i(first)!r}, expected -105"
    retry = _retried_message_1(device, session, _error(2, -102))
    assert cbor.decode_sequence(retry)[0] == 0, "the retry keeps METHOD 0"
    assert _suites_i(retry) == [-105, -102], (
        f"retried SUITES_I {_suites_i(retry)!r}: the rejected suite must precede the selected one"
    )
    assert _g_x(retry) != _g_x(first), (
        "REQ-SUITE-006: the retried message_1 reuses the ML-KEM-768 key of the first one"
    )
    peer = responder_peer_for(SUITE)
    message_2 = peer.deliver(retry)[0]
    message_3, _ = device.client.session_deliver(session, message_2)
    assert len(message_3) == 1, f"expected message_3 after message_2, got {message_3!r}"
    peer.deliver(bytes(message_3[0]))
    assert peer.established, "the reference did not accept the device's message_3"
    info = device.client.session_info(session)
    assert (info.get("state"), info.get("suite")) == ("DONE", SUITE), info


@pytest.mark.requirement("REQ-HS-029", "REQ-ERR-003")
def test_initiator_without_a_common_suite_aborts(device: Device) -> None:
    _needs_role(device, "initiator")
    session, _ = device_initiator(device, SUITE)
    outcome = deliver(device, session, _error(2, [-104, -103]))
    _assert_aborted_silently(outcome, "ERR_CODE 2 without a configured suite in SUITES_R")
    assert outcome.alert == "wrong_selected_cipher_suite", outcome.summary()


@pytest.mark.requirement("REQ-HS-030")
def test_second_err_code_2_ends_the_attempt(device: Device) -> None:
    """[-105, -106, -102]: after the retry with -106 a second ERR_CODE 2 must not lead to -102."""
    _needs_role(device, "initiator")
    _needs_suites(device, -105, -106, -102)
    session, _ = device_initiator(device, SUITE, suites=[-105, -106, -102])
    retry = _retried_message_1(device, session, _error(2, [-106, -102]))
    assert _suites_i(retry) == [-105, -106], (
        f"the retry must select -106, the most preferred suite in SUITES_R: {_suites_i(retry)!r}"
    )
    outcome = deliver(device, session, _error(2, -102))
    _assert_aborted_silently(outcome, "a second ERR_CODE 2")
    assert outcome.alert == "wrong_selected_cipher_suite", outcome.summary()


@pytest.mark.requirement("REQ-HS-031")
def test_initiator_never_selects_a_suite_it_has_not_enabled(device: Device) -> None:
    """SUITES_R lists a check-only, an experimental and a standard suite, none enabled here."""
    _needs_role(device, "initiator")
    session, _ = device_initiator(device, SUITE)
    outcome = deliver(device, session, _error(2, [2, -107, -105]))
    _assert_aborted_silently(outcome, "ERR_CODE 2 naming only suites this session did not enable")
    assert outcome.alert == "wrong_selected_cipher_suite", outcome.summary()


@pytest.mark.requirement("REQ-HS-032", "REQ-HS-021")
def test_suites_i_changed_on_the_path_is_detected(device: Device) -> None:
    """The retried SUITES_I [-105, -102] rewritten to -102: the device must not reach DONE."""
    _needs_role(device, "initiator")
    _needs_suites(device, -105, -102)
    session, _ = device_initiator(device, SUITE, suites=[-105, -102])
    items = cbor.decode_sequence(_retried_message_1(device, session, _error(2, -102)))
    assert items[1] == [-105, -102]
    items[1] = -102
    peer = responder_peer_for(SUITE)
    message_2 = peer.deliver(cbor.encode_sequence(*items))[0]
    result = expect_alert(
        lambda: device.client.session_deliver(session, message_2),
        {"decode_error", "authentication_failed"},
        "message_2 whose TH_2 covers a downgraded SUITES_I",
    )
    code, info = error_message(result.get("out"))
    assert code == 1 and alert_in_err_info(info) == result.get("alert"), (code, info)


# -- limits (REQ-HS-025; REQ-HS-036 is in test_handshake_more.py) ---------------------


@pytest.mark.requirement("REQ-HS-025", "REQ-HS-026")
def test_largest_messages_the_device_produces_fit_the_limit(
    device: Device, device_role: str
) -> None:
    """Largest declared ML-DSA suite, credential by value where implemented: all <= 16384 B."""
    suite = next((s for s in (-104, -103, -102) if s in device.statement.suites), SUITE)
    kid, tester = provision(device, suite, device_role)
    own = suite_parties(suite)[device_role]
    peer = ReferencePeer(
        "responder" if device_role == "initiator" else "initiator",
        [suite],
        tester,
        [own.credential],
    )
    session, out, _ = start_sending_credential_by_value(device, device_role, [suite], kid)
    transcript = drive(device, session, peer, out)
    produced = [m for who, m in transcript if who == "device"]
    assert device.client.session_info(session).get("state") == "DONE"
    sizes = [len(m) for m in produced]
    assert max(sizes) <= 16384, f"the device produced handshake messages of {sizes} bytes"


# -- connection identifier length (REQ-HS-003) ----------------------------------------


@pytest.mark.requirement("REQ-HS-003", "REQ-HS-004", "REQ-HS-021")
@pytest.mark.parametrize(
    ("suite_id", "length", "accepted"),
    [(-102, 6, True), (-102, 7, False), (-101, 7, True), (-101, 8, False)],
    ids=["a256gcm-6", "a256gcm-7", "ccm-7", "ccm-8"],
)
def test_c_i_longer_than_an_oscore_id_allows_is_refused(
    device: Device, suite_id: int, length: int, accepted: bool
) -> None:
    """C_I is an OSCORE Sender ID: at most nonce_length - 6 bytes (6 for A256GCM, 7 for CCM)."""
    _needs_role(device, "responder")
    _needs_suites(device, suite_id)
    items = cbor.decode_sequence(initiator_peer_for(suite_id).handshake_out()[0])
    items[3] = bytes(range(0x40, 0x40 + length))
    session, _ = device_responder(device, suite_id)
    outcome = deliver(device, session, cbor.encode_sequence(*items))
    if accepted:
        assert (outcome.status, outcome.state) == (0, "WAIT_M3"), (
            f"a {length}-byte C_I fits suite {suite_id}: {outcome.summary()}"
        )
        return
    assert (outcome.status, outcome.alert) == (Status.PROTOCOL_ALERT, "decode_error"), (
        f"a {length}-byte C_I is too long for suite {suite_id}: {outcome.summary()}"
    )
    _assert_error_sent(outcome.result, "decode_error")


# -- state timer (REQ-HS-037) ----------------------------------------------------------


def _session_awaiting_reply(
    device: Device, role: str, kid: bytes, mine: Party, tester: Party
) -> tuple[int, bytes] | None:
    """A device session in WAIT_M2 / WAIT_M3 and the message that would complete it.

    None when the device has no free session slot (TAP status 8).
    """
    try:
        session, out = start_session(device, role, [SUITE], cred=kid)
    except StatusError as exc:
        if exc.status == Status.BUSY:
            return None
        raise
    if role == "initiator":
        peer = ReferencePeer("responder", [SUITE], tester, [mine.credential])
        return session, peer.deliver(bytes(out[0]))[0]
    peer = ReferencePeer("initiator", [SUITE], tester, [mine.credential])
    reply, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    return session, peer.deliver(bytes(reply[0]))[0]


@pytest.mark.requirement("REQ-HS-037")
def test_wait_states_expire_after_the_default_30_seconds(device: Device) -> None:
    """Sessions answered at 27 s still complete; sessions left 31 s are FAILED, silently.

    Takes 31 s: the default timer cannot be shortened through TAP. Both WAIT
    states of the roles the device declares are checked in the same wait.
    """
    roles: list[str] = [r for r in ("initiator", "responder") if r in device.statement.roles]
    parties = suite_parties(SUITE)
    # One own credential for both roles (REQ-KS-007 asks for one per algorithm only).
    mine, tester = parties["initiator"], parties["responder"]
    device.client.reset("all")
    kid = device.client.cred_load("own", ccs=mine.credential.cred, sk=mine.private_key)
    device.client.cred_load("peer", ccs=tester.credential.cred)
    started = time.monotonic()
    early: list[tuple[str, int, bytes]] = []
    late: list[tuple[str, int, bytes]] = []
    for role in roles:
        first = _session_awaiting_reply(device, role, kid, mine, tester)
        second = _session_awaiting_reply(device, role, kid, mine, tester)
        if first is None or second is None:
            break  # the device's session table is full; time what fits
        early.append((role, *first))
        late.append((role, *second))
    assert early, "the device could not hold two sessions at once"
    assert time.monotonic() - started < 5, "setting the sessions up took too long to time them"
    time.sleep(max(0.0, started + 27 - time.monotonic()))
    for role, session, message in early:
        outcome = deliver(device, session, message)
        assert outcome.status == 0, f"{role} session expired before 30 s: {outcome.summary()}"
    time.sleep(max(0.0, started + 31.5 - time.monotonic()))
    for role, session, message in late:
        # The completing message goes first, so a timer checked lazily on input also counts.
        outcome = deliver(device, session, message)
        assert outcome.out == [], f"an expired {role} session sends nothing: {outcome.summary()}"
        state = device.client.session_info(session).get("state")
        assert state == "FAILED", f"{role} session is {state!r} 31 s after its last message"
