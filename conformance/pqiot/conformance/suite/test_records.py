"""Records (spec chapter 7): exact encoding, content types, closing, state and size rules.

The tester knows the session secrets, so every record the device sends is
compared byte for byte with the §7.1 encoding computed by
:mod:`pqiot.conformance.record_probes` (an encoder written from the spec, not
the reference record layer). Records the tester sends are sealed by the same
codec, which can also build what a conforming peer never sends: reserved
content types, malformed bodies, other binding contexts, oversized records.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from pqiot.conformance.conversation import (
    HandshakeRun,
    expect_alert,
    expect_status,
    provision,
    run_handshake,
    start_session,
)
from pqiot.conformance.device import Device
from pqiot.conformance.peer import ReferencePeer, suite_parties
from pqiot.conformance.record_probes import (
    APPLICATION_DATA,
    CLOSE,
    KEY_UPDATE,
    KEY_UPDATE_ACK,
    RECORD_LIMIT,
    aead_for_suite,
    assert_record,
    session_is_over,
    session_keys,
    single_close,
    wire_out,
)
from pqiot.hil.client import StatusError
from pqiot.reference import cbor
from pqiot.reference.tap.codes import Status

SUITE = -102
#: Declared suites tried, cheapest first, for each application AEAD (§3.3).
_BY_AEAD = {
    "a256gcm": (-102, -103, -106, -107, -104, -109, -110),
    "ccm-16-64-128": (-101, -108),
    "chacha20-poly1305": (-105,),
}


def _suite_for(device: Device, aead: str) -> int:
    for suite in _BY_AEAD[aead]:
        if suite in device.statement.suites:
            return suite
    pytest.skip(f"not applicable: no declared suite uses {aead}")


def _role(device: Device) -> str:
    return "responder" if "responder" in device.statement.roles else "initiator"


def _dropped(result: dict[str, Any], what: str) -> None:
    assert not result.get("out"), f"{what}: nothing may be sent, got {result.get('out')!r}"


# -- REQ-REC-001 / 003 / 004 / 005 / 011: what the device sends --------------------------


@pytest.mark.requirement("REQ-REC-001", "REQ-REC-003", "REQ-REC-004", "REQ-REC-005", "REQ-REC-011")
@pytest.mark.parametrize("aead", sorted(_BY_AEAD))
def test_device_records_are_the_exact_7_1_encoding(
    device: Device, aead: str, device_role: str, evidence: dict[str, Any]
) -> None:
    """Each APP_SEND record equals the §7.1 encoding at SSN 0, 1, 2 (nonce §5.2, AAD with h'')."""
    suite = _suite_for(device, aead)
    run = run_handshake(device, suite, device_role)
    keys = session_keys(run)
    evidence.update(suite=suite, sender_id=keys.device.sender_id.hex())
    for ssn, data in enumerate((b"", b"a", b"records are exact " * 5)):
        out = device.client.app_send(run.session, data)
        assert len(out) == 1, f"APP_SEND produced {len(out)} records, expected 1"
        assert_record(keys.device, out[0], ssn, bytes([APPLICATION_DATA]) + data, "APP_SEND")


@pytest.mark.requirement("REQ-REC-001", "REQ-REC-005", "REQ-REC-011")
def test_piv_stays_minimal_and_unique_past_one_byte(device: Device) -> None:
    """SSN 0..257 in order: PIV ``ff`` is one byte, ``01 00`` two; no SSN is used twice.

    The 2^40 - 1 bound of REQ-REC-011 cannot be reached: limit_q (2^20, §7.9)
    ends every sender key long before.
    """
    run = run_handshake(device, SUITE, _role(device))
    keys = session_keys(run)
    for ssn in range(258):
        data = ssn.to_bytes(2, "big")
        out = device.client.app_send(run.session, data)
        assert len(out) == 1, f"APP_SEND #{ssn} produced {len(out)} records"
        assert_record(keys.device, out[0], ssn, bytes([APPLICATION_DATA]) + data, f"SSN {ssn}")


@pytest.mark.requirement("REQ-REC-001", "REQ-REC-003", "REQ-REC-004", "REQ-KEYS-014")
def test_orderly_close_record_is_exact_and_ends_the_session(device: Device) -> None:
    """SESSION_CLOSE sends one close record with body CBOR null at the next SSN, then nothing."""
    run = run_handshake(device, SUITE, _role(device))
    keys = session_keys(run)
    out = device.client.app_send(run.session, b"before the close")
    assert_record(keys.device, out[0], 0, b"\x01before the close", "APP_SEND")
    closing = device.client.session_close(run.session)
    assert len(closing) == 1, f"SESSION_CLOSE sent {len(closing)} records, expected one"
    assert_record(keys.device, closing[0], 1, bytes([CLOSE]) + cbor.encode(None), "close record")


# -- REQ-REC-004: what the device accepts ------------------------------------------------


@pytest.mark.conversation
@pytest.mark.requirement("REQ-REC-004")
def test_record_bound_to_another_context_or_algorithm_is_dropped(device: Device) -> None:
    """AAD with binding_context h'00' or another alg id: dropped; the genuine record then works."""
    run = run_handshake(device, SUITE, _role(device))
    tester = session_keys(run).tester
    plaintext = b"\x01bound to h''"
    wrong = {
        "binding_context h'00' (serial) instead of h''": tester.seal(
            7, plaintext, binding_context=b"\x00"
        ),
        "alg_aead 24 in the external_aad": tester.seal(7, plaintext, aad_alg=24),
    }
    for what, record in wrong.items():
        _dropped(
            expect_alert(
                partial(device.client.app_receive, run.session, record),
                {"decrypt_failed"},
                what,
            ),
            what,
        )
    content_type, data, _ = device.client.app_receive(run.session, tester.seal(7, plaintext))
    assert (content_type, data) == (1, b"bound to h''"), "the genuine record must be accepted"


# -- REQ-REC-006 / 008: content types of authenticated records ----------------------------


def _authenticated_failure(
    device: Device, run: HandshakeRun, plaintext: bytes, alert: str, what: str
) -> None:
    """The device must close with ``alert``: one close record naming it, then no session."""
    keys = session_keys(run)
    result = expect_alert(
        lambda: device.client.app_receive(run.session, keys.tester.seal(3, plaintext)),
        {alert},
        what,
    )
    named = single_close(keys.device, result.get("out"), 0, what)
    assert named == alert, f"{what}: the close record names {named!r}, expected {alert!r}"
    session_is_over(device, run.session, keys.tester.seal(4, b"\x01late"), what)


@pytest.mark.conversation
@pytest.mark.requirement("REQ-REC-006", "REQ-REC-008", "REQ-KEYS-014")
@pytest.mark.parametrize("content_type", [0, 5, 127, 255])
def test_reserved_content_type_closes_with_unexpected_message(
    device: Device, content_type: int
) -> None:
    run = run_handshake(device, SUITE, _role(device))
    _authenticated_failure(
        device,
        run,
        bytes([content_type]) + b"body",
        "unexpected_message",
        f"authenticated record with reserved content type {content_type}",
    )


_BAD_BODIES = {
    "key_update with a 15-byte nonce": bytes([KEY_UPDATE]) + bytes(15),
    "key_update with a 17-byte nonce": bytes([KEY_UPDATE]) + bytes(17),
    "key_update_ack with a body": bytes([KEY_UPDATE_ACK, 0]),
    "close with a CBOR int": bytes([CLOSE]) + cbor.encode(5),
    "close with two CBOR items": bytes([CLOSE]) + b"\xf6\xf6",
    "close with a 129-byte text": bytes([CLOSE]) + cbor.encode("a" * 129),
    "close with an empty body": bytes([CLOSE]),
}


@pytest.mark.conversation
@pytest.mark.requirement("REQ-REC-006", "REQ-REC-008")
@pytest.mark.parametrize("case", sorted(_BAD_BODIES))
def test_body_not_matching_its_content_type_closes_with_decode_error(
    device: Device, case: str
) -> None:
    """An empty plaintext cannot be tested here: REQ-REC-002 drops it as too short first."""
    if _BAD_BODIES[case][0] in (KEY_UPDATE, KEY_UPDATE_ACK) and (
        "key-update" not in device.statement.features
    ):
        pytest.skip("not applicable: feature key-update not declared")
    run = run_handshake(device, SUITE, _role(device))
    _authenticated_failure(device, run, _BAD_BODIES[case], "decode_error", case)


@pytest.mark.requirement("REQ-REC-006")
def test_empty_application_data_is_accepted(device: Device) -> None:
    """§7.3: application_data may be empty; it is not a malformed record."""
    run = run_handshake(device, SUITE, _role(device))
    keys = session_keys(run)
    content_type, data, out = device.client.app_receive(run.session, keys.tester.seal(0, b"\x01"))
    assert (content_type, data, out) == (1, b"", []), (content_type, data, out)


# -- REQ-REC-007: a close record from the peer -------------------------------------------


@pytest.mark.requirement("REQ-REC-007", "REQ-KEYS-014")
@pytest.mark.parametrize(
    "body", [None, "decrypt_failed: conformance close"], ids=["orderly", "with-alert"]
)
def test_close_from_the_peer_ends_the_session_silently(
    device: Device, body: str | None, evidence: dict[str, Any]
) -> None:
    """The close is reported to the application, nothing is sent, both contexts are gone.

    The audit part (§10.2 event for a peer alert) is not observable through TAP.
    """
    run = run_handshake(device, SUITE, _role(device))
    keys = session_keys(run)
    record = keys.tester.seal(0, bytes([CLOSE]) + cbor.encode(body))
    try:
        content_type, _, out = device.client.app_receive(run.session, record)
    except StatusError as exc:
        alert = body.split(":")[0] if body else None
        assert exc.status == Status.PROTOCOL_ALERT and alert and exc.result.get("alert") == alert, (
            f"a valid close record must be reported as a close, got status {exc.status}: "
            f"{exc.result}"
        )
        out = wire_out(exc.result)
        evidence["reported_as"] = f"status 7 {alert}"
    else:
        assert content_type == CLOSE, f"APP_RECEIVE reported content type {content_type}"
        evidence["reported_as"] = "content_type 4"
    assert out == [], f"nothing may be sent after receiving a close, got {out!r}"
    session_is_over(device, run.session, keys.tester.seal(1, b"\x01late"), "peer closed")


@pytest.mark.requirement("REQ-TAP-015")
@pytest.mark.parametrize("closed_by", ["peer-close", "device-error"])
def test_exporter_is_refused_once_the_session_is_closed(device: Device, closed_by: str) -> None:
    """A closed session has discarded its contexts (REQ-REC-007/008), so it is no longer in
    DONE, and EXPORT must answer status 5 instead of keys of a session that is over."""
    run = run_handshake(device, SUITE, _role(device))
    keys = session_keys(run)
    if closed_by == "peer-close":
        device.client.app_receive(run.session, keys.tester.seal(0, bytes([CLOSE, 0xF6])))
    else:
        expect_status(
            lambda: device.client.app_receive(run.session, keys.tester.seal(0, b"\x00reserved")),
            {Status.PROTOCOL_ALERT},
            "record with reserved content type 0",
        )
    expect_status(
        lambda: device.client.export(run.session, 40000, b"", 16),
        {Status.INVALID_STATE},
        f"EXPORT after the session was closed ({closed_by})",
    )


# -- REQ-REC-010: no records outside DONE -------------------------------------------------


def _not_delivered(device: Device, session: int, record: bytes, what: str) -> None:
    """The record must not reach the application (refused, or at most buffered, REQ-REC-010)."""
    try:
        content_type, data, out = device.client.app_receive(session, record)
    except StatusError as exc:
        assert exc.status in (Status.INVALID_STATE, Status.PROTOCOL_ALERT), (
            f"{what}: unexpected status {exc.status}: {exc.result}"
        )
        assert not exc.result.get("out"), f"{what}: the device answered {exc.result.get('out')!r}"
        return
    assert content_type != APPLICATION_DATA and not out, (
        f"{what}: the device delivered {data!r} (content type {content_type}) before DONE"
    )


def _no_sending(device: Device, session: int, what: str) -> None:
    result = expect_status(
        lambda: device.client.app_send(session, b"too early"),
        {Status.INVALID_STATE, Status.PROTOCOL_ALERT},
        f"{what}: APP_SEND before DONE",
    )
    assert not result.get("out"), f"{what}: the device sent {result.get('out')!r} before DONE"


@pytest.mark.requirement("REQ-REC-010", "REQ-KEYS-014")
def test_responder_neither_sends_nor_accepts_records_in_wait_m3(device: Device) -> None:
    """The tester is DONE after message_2; its record reaches the device still in WAIT_M3."""
    if "responder" not in device.statement.roles:
        pytest.skip("not applicable: role responder not declared")
    kid, tester = provision(device, SUITE, "responder")
    peer = ReferencePeer(
        "initiator", [SUITE], tester, [suite_parties(SUITE)["responder"].credential]
    )
    session, _ = start_session(device, "responder", [SUITE], cred=kid)
    message_2, state = device.client.session_deliver(session, peer.handshake_out()[0])
    assert state == "WAIT_M3", f"state {state!r} after message_1"
    message_3 = peer.deliver(message_2[0])
    assert peer.established, "the reference initiator is DONE after message_2"
    early = peer.protect(b"early record")
    _no_sending(device, session, "WAIT_M3")
    _not_delivered(device, session, early, "record in WAIT_M3")
    _, state = device.client.session_deliver(session, message_3[0])
    assert state == "DONE", f"state {state!r} after message_3"


@pytest.mark.requirement("REQ-REC-010")
def test_initiator_does_not_send_records_in_wait_m2(device: Device) -> None:
    if "initiator" not in device.statement.roles:
        pytest.skip("not applicable: role initiator not declared")
    kid, _ = provision(device, SUITE, "initiator")
    session, out = start_session(device, "initiator", [SUITE], cred=kid)
    assert len(out) == 1, "SESSION_START as initiator sends message_1"
    _no_sending(device, session, "WAIT_M2")


@pytest.mark.requirement("REQ-REC-010", "REQ-KEYS-014", "REQ-TAP-015")
def test_initiator_waits_for_message_4_before_using_records(device: Device) -> None:
    """With message_4 the Initiator derives its contexts only after message_4 verifies."""
    if "initiator" not in device.statement.roles or "msg4" not in device.statement.features:
        pytest.skip("not applicable: needs role initiator and feature msg4")
    kid, tester = provision(device, SUITE, "initiator")
    peer = ReferencePeer(
        "responder",
        [SUITE],
        tester,
        [suite_parties(SUITE)["initiator"].credential],
        message_4=True,
    )
    session, out = start_session(device, "initiator", [SUITE], cred=kid, msg4=True)
    message_2 = peer.deliver(out[0])
    message_3, state = device.client.session_deliver(session, message_2[0])
    assert state == "WAIT_M4", f"state {state!r} after message_2 with msg4"
    message_4 = peer.deliver(message_3[0])
    assert peer.established and message_4, "the reference responder sends message_4"
    early = peer.protect(b"before message_4")
    _no_sending(device, session, "WAIT_M4")
    expect_status(
        lambda: device.client.export(session, 40000, b"", 16),
        {Status.INVALID_STATE},
        "EXPORT in WAIT_M4",
    )
    _not_delivered(device, session, early, "record in WAIT_M4")
    _, state = device.client.session_deliver(session, message_4[0])
    assert state == "DONE", f"state {state!r} after message_4"


# -- REQ-REC-012: record size limit --------------------------------------------------------


@pytest.mark.requirement("REQ-REC-012")
@pytest.mark.parametrize("aead", sorted(_BY_AEAD))
def test_sender_refuses_data_above_the_record_limit(
    device: Device, aead: str, evidence: dict[str, Any]
) -> None:
    """plaintext + tag = l is sent; one byte more is refused with message_too_large."""
    suite = _suite_for(device, aead)
    spec = aead_for_suite(suite)
    limit = RECORD_LIMIT[spec.alg]
    largest = limit - spec.tag_len - 1
    if device.limit("max_record_plaintext", 0) < largest + 1:
        pytest.skip(f"max_record_plaintext is below {largest + 1}: the limit is not reachable")
    run = run_handshake(device, suite, _role(device))
    keys = session_keys(run)
    evidence.update(suite=suite, l=limit)
    out = device.client.app_send(run.session, bytes(largest))
    assert len(out) == 1, f"{largest} bytes (plaintext + tag = l = {limit}) must be sent"
    assert_record(keys.device, out[0], 0, b"\x01" + bytes(largest), "record of exactly l bytes")
    result = expect_alert(
        lambda: device.client.app_send(run.session, bytes(largest + 1)),
        {"message_too_large"},
        f"{largest + 1} bytes of application data (plaintext + tag = {limit + 1} > l) on {aead}",
    )
    assert not result.get("out"), f"nothing may be sent for refused data: {result.get('out')!r}"


@pytest.mark.conversation
@pytest.mark.requirement("REQ-REC-012")
@pytest.mark.parametrize("aead", sorted(_BY_AEAD))
def test_receiver_drops_a_record_above_the_limit(device: Device, aead: str) -> None:
    """An authentic record one byte above l is not delivered; one of exactly l is."""
    suite = _suite_for(device, aead)
    spec = aead_for_suite(suite)
    largest = RECORD_LIMIT[spec.alg] - spec.tag_len - 1
    if device.limit("max_record_plaintext", 0) < largest + 1:
        pytest.skip(f"max_record_plaintext is below {largest + 1}: the limit is not reachable")
    run = run_handshake(device, suite, _role(device))
    tester = session_keys(run).tester
    oversized = tester.seal(0, b"\x01" + bytes(largest + 1))
    try:
        content_type, data, out = device.client.app_receive(run.session, oversized)
    except StatusError as exc:
        assert exc.status in (Status.TOO_LARGE, Status.PROTOCOL_ALERT), (exc.status, exc.result)
        assert not exc.result.get("out"), f"a dropped record got {exc.result.get('out')!r}"
    else:
        raise AssertionError(
            f"an authentic record with plaintext + tag above l was accepted "
            f"(content type {content_type}, {len(data)} bytes, out {out!r})"
        )
    content_type, data, _ = device.client.app_receive(
        run.session, tester.seal(1, b"\x01" + bytes(largest))
    )
    assert (content_type, len(data)) == (1, largest), "a record of exactly l bytes is valid"
