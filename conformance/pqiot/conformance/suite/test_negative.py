"""Negative conversations: one malformed or hostile input, exactly one expected reaction.

Each test runs between two sanity handshakes (conftest.py). Record failures
must be dropped without a byte on the wire (REQ-ERR-004): the device reports
the alert through TAP (status 7) with an empty ``out``, and the session stays
usable. Handshake failures must put the EDHOC error message of §10.2 on the
wire (REQ-HS-021, REQ-ERR-003).
"""

from __future__ import annotations

from functools import partial
from typing import Any

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
from pqiot.conformance.peer import Party, ReferencePeer, stranger, suite_parties
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.identity import generate_identity
from pqiot.reference.tap.codes import Status

pytestmark = pytest.mark.conversation
SUITE = -102


def _responder_role(device: Device) -> None:
    if "responder" not in device.statement.roles:
        pytest.skip("not applicable: role responder not declared")


def _established(device: Device) -> Any:
    role = "responder" if "responder" in device.statement.roles else "initiator"
    return run_handshake(device, SUITE, role)


def _assert_dropped(result: dict[str, Any]) -> None:
    assert list(result.get("out", [])) == [], (
        f"REQ-ERR-004: nothing may be sent for a dropped record, got {result.get('out')!r}"
    )


@pytest.mark.requirement("REQ-REPLAY-002")
def test_replayed_record_is_dropped_silently(device: Device) -> None:
    run = _established(device)
    record = run.peer.protect(b"once")
    assert device.client.app_receive(run.session, record)[1] == b"once"
    result = expect_alert(
        lambda: device.client.app_receive(run.session, record), {"replay_detected"}, "replay"
    )
    _assert_dropped(result)
    assert run.to_device(b"after the replay") == b"after the replay", "session must stay usable"


@pytest.mark.requirement("REQ-REPLAY-001", "REQ-REPLAY-002", "REQ-REPLAY-003", "REQ-REPLAY-004")
def test_reordered_records_inside_the_window(device: Device) -> None:
    """REQ-REPLAY-004's example: 10, 8, then 9 once; 8 again and PIV <= top - 64 are replays."""
    run = _established(device)
    records = [run.peer.protect(f"piv {i}".encode()) for i in range(76)]
    for piv in (10, 8, 9):
        assert device.client.app_receive(run.session, records[piv])[1] == f"piv {piv}".encode()
    for piv in (8, 9):
        _assert_dropped(
            expect_alert(
                partial(device.client.app_receive, run.session, records[piv]),
                {"replay_detected"},
                f"PIV {piv} a second time",
            )
        )
    assert device.client.app_receive(run.session, records[75])[1] == b"piv 75"
    _assert_dropped(
        expect_alert(
            lambda: device.client.app_receive(run.session, records[11]),
            {"replay_detected"},
            "PIV 11 = top - 64 (outside a 64-wide window)",
        )
    )
    assert device.client.app_receive(run.session, records[12])[1] == b"piv 12", (
        "PIV 12 = top - 63 is inside the window and new"
    )


@pytest.mark.requirement("REQ-REC-009", "REQ-ERR-004", "REQ-ERR-008")
def test_tampered_record_is_dropped_and_does_not_move_the_window(device: Device) -> None:
    run = _established(device)
    record = run.peer.protect(b"integrity")
    tampered = record[:-1] + bytes([record[-1] ^ 0x01])
    _assert_dropped(
        expect_alert(
            lambda: device.client.app_receive(run.session, tampered),
            {"decrypt_failed"},
            "record with a flipped tag bit",
        )
    )
    assert device.client.app_receive(run.session, record)[1] == b"integrity", (
        "REQ-REC-009: the window is updated only after successful decryption"
    )


@pytest.mark.requirement("REQ-REC-002", "REQ-ERR-004")
@pytest.mark.parametrize("keep", [0, 1, 3, 8])
def test_truncated_record_is_dropped(device: Device, keep: int) -> None:
    run = _established(device)
    record = run.peer.protect(b"truncate me")
    _assert_dropped(
        expect_alert(
            lambda: device.client.app_receive(run.session, record[:keep]),
            {"decode_error", "decrypt_failed"},
            f"record cut to {keep} bytes",
        )
    )
    assert run.to_device(b"still here") == b"still here"


@pytest.mark.requirement("REQ-HS-004", "REQ-HS-021", "REQ-ENC-007", "REQ-ERR-003")
def test_truncated_message_1_gets_a_decode_error(device: Device) -> None:
    _responder_role(device)
    parties = suite_parties(SUITE)
    peer = ReferencePeer(
        "initiator", [SUITE], parties["initiator"], [parties["responder"].credential]
    )
    message_1 = peer.handshake_out()[0]
    kid = device.client.cred_load(
        "own", ccs=parties["responder"].credential.cred, sk=parties["responder"].private_key
    )
    session, _ = start_session(device, "responder", [SUITE], cred=kid)
    result = expect_alert(
        lambda: device.client.session_deliver(session, message_1[: len(message_1) // 2]),
        {"decode_error"},
        "message_1 cut in half",
    )
    code, info = error_message(result.get("out"))
    assert code == 1 and isinstance(info, str) and info.startswith("decode_error"), (code, info)


@pytest.mark.requirement("REQ-TAP-007")
def test_oversize_handshake_message_and_record_are_refused(device: Device) -> None:
    run = _established(device)
    limit = device.limit("max_hs_message", 16384)
    expect_status(
        lambda: device.client.session_deliver(run.session, bytes(limit + 1)),
        {Status.TOO_LARGE, Status.INVALID_STATE},
        f"SESSION_DELIVER of {limit + 1} bytes (max_hs_message {limit})",
    )
    record_limit = device.limit("max_record_plaintext", 16384)
    expect_status(
        lambda: device.client.app_receive(run.session, bytes(record_limit + 1024)),
        {Status.TOO_LARGE},
        f"APP_RECEIVE of {record_limit + 1024} bytes",
    )
    assert run.to_device(b"limits hold") == b"limits hold"


def _message_1_with_suites(suites_i: CborValue, offered: list[int]) -> bytes:
    parties = suite_parties(SUITE)
    peer = ReferencePeer(
        "initiator", offered, parties["initiator"], [parties["responder"].credential]
    )
    items = cbor.decode_sequence(peer.handshake_out()[0])
    items[1] = suites_i
    return cbor.encode_sequence(*items)


@pytest.mark.requirement("REQ-HS-027", "REQ-HS-028", "REQ-HS-019", "REQ-ERR-003")
def test_unsupported_selected_suite_gets_err_code_2(device: Device) -> None:
    """The device enables only -102; message_1 selects -101: ERR_CODE 2 with SUITES_R = -102."""
    _responder_role(device)
    if -101 not in device.statement.suites:
        pytest.skip("needs a second declared suite (-101) to build the offer")
    parties = suite_parties(SUITE)
    kid = device.client.cred_load(
        "own", ccs=parties["responder"].credential.cred, sk=parties["responder"].private_key
    )
    session, _ = start_session(device, "responder", [SUITE], cred=kid)
    peer = ReferencePeer("initiator", [-101], suite_parties(-101)["initiator"], [])
    result = expect_alert(
        lambda: device.client.session_deliver(session, peer.handshake_out()[0]),
        {"wrong_selected_cipher_suite"},
        "message_1 selecting a suite the responder did not enable",
    )
    code, info = error_message(result.get("out"))
    assert code == 2 and info == SUITE, f"expected ERR_CODE 2, SUITES_R -102; got {code}, {info!r}"


@pytest.mark.requirement("REQ-HS-027", "REQ-ERR-003")
def test_downgrade_to_a_less_preferred_suite_is_refused(device: Device) -> None:
    """SUITES_I = [-103, -102] selects -102 although the device enables the preferred -103."""
    _responder_role(device)
    if -103 not in device.statement.suites:
        pytest.skip("needs suite -103 declared to test the preference rule")
    parties = suite_parties(SUITE)
    kid = device.client.cred_load(
        "own", ccs=parties["responder"].credential.cred, sk=parties["responder"].private_key
    )
    session, _ = start_session(device, "responder", [-103, SUITE], cred=kid)
    message_1 = _message_1_with_suites([-103, SUITE], [SUITE])
    result = expect_alert(
        lambda: device.client.session_deliver(session, message_1),
        {"wrong_selected_cipher_suite"},
        "offer whose selected suite is preceded by a suite the responder supports",
    )
    code, info = error_message(result.get("out"))
    assert code == 2, f"expected ERR_CODE 2, got {code}"
    assert info in ([-103, SUITE], -103), f"SUITES_R {info!r} must list the enabled suites"


def _responder_session(device: Device) -> int:
    parties = suite_parties(SUITE)
    device.client.reset("all")
    kid = device.client.cred_load(
        "own", ccs=parties["responder"].credential.cred, sk=parties["responder"].private_key
    )
    device.client.cred_load("peer", ccs=parties["initiator"].credential.cred)
    return start_session(device, "responder", [SUITE], cred=kid)[0]


def _drive_until_alert(device: Device, session: int, peer: ReferencePeer) -> dict[str, Any]:
    message_2: list[bytes] = []

    def exchange() -> None:
        out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
        message_2.extend(out)
        for reply in peer.deliver(out[0]):
            device.client.session_deliver(session, reply)

    result = expect_status(exchange, {Status.PROTOCOL_ALERT}, "handshake with an untrusted peer")
    return result


@pytest.mark.requirement("REQ-KS-002", "REQ-HS-014", "REQ-HS-019", "REQ-ERR-003")
def test_unknown_peer_by_kid_is_refused(device: Device) -> None:
    _responder_role(device)
    session = _responder_session(device)
    who = stranger()
    peer = ReferencePeer("initiator", [SUITE], who, [suite_parties(SUITE)["responder"].credential])
    result = _drive_until_alert(device, session, peer)
    assert result.get("alert") == "unknown_credential", result
    code, info = error_message(result.get("out"))
    assert (code, info) == (3, True), f"expected ERR_CODE 3, ERR_INFO true; got {code}, {info!r}"


@pytest.mark.requirement("REQ-KS-001", "REQ-KS-003", "REQ-ERR-003")
def test_credential_by_value_with_tofu_off_is_refused(device: Device) -> None:
    _responder_role(device)
    session = _responder_session(device)
    who = stranger()
    peer = ReferencePeer(
        "initiator", [SUITE], who, [suite_parties(SUITE)["responder"].credential], by_value=True
    )
    result = _drive_until_alert(device, session, peer)
    assert result.get("alert") == "tofu_disabled", result
    code, info = error_message(result.get("out"))
    assert code == 1 and isinstance(info, str) and info.startswith("tofu_disabled"), (code, info)


@pytest.mark.requirement("REQ-HS-013", "REQ-HS-021", "REQ-ERR-003")
def test_tampered_message_3_is_refused(device: Device) -> None:
    _responder_role(device)

    def flip_last_byte_of_message_3(index: int, message: bytes) -> bytes:
        return message[:-1] + bytes([message[-1] ^ 0x80]) if index == 1 else message

    result = expect_status(
        lambda: run_handshake(device, SUITE, "responder", tamper=flip_last_byte_of_message_3),
        {Status.PROTOCOL_ALERT},
        "message_3 with a flipped ciphertext bit",
    )
    assert result.get("alert") == "decrypt_failed", result
    code, info = error_message(result.get("out"))
    assert code == 1 and isinstance(info, str) and info.startswith("decrypt_failed"), (code, info)


@pytest.mark.requirement("REQ-KU-008")
def test_second_key_update_while_one_is_outstanding_is_refused(device: Device) -> None:
    if "key-update" not in device.statement.features:
        pytest.skip("not applicable: feature key-update not declared")
    run = _established(device)
    device.client.key_update(run.session, bytes(16))
    expect_status(
        lambda: device.client.key_update(run.session, bytes(range(16))),
        {Status.PROTOCOL_ALERT, Status.INVALID_STATE},
        "KEY_UPDATE while one is outstanding",
    )


def _mutations() -> list[Any]:
    """(mutation of a valid -102 message_1, REQ IDs) — each must end in decode_error."""

    def case(name: str, mutate: Any, *reqs: str) -> Any:
        return pytest.param(mutate, id=name, marks=pytest.mark.requirement(*reqs))

    return [
        case("non-shortest-method", lambda m: b"\x18\x00" + m[1:], "REQ-ENC-002"),
        case("indefinite-suites", lambda m: m[:1] + b"\x9f\x38\x65\xff" + m[3:], "REQ-ENC-003"),
        case("tagged-suites", lambda m: m[:1] + b"\xc1" + m[1:], "REQ-ENC-004"),
        case("float-method", lambda m: b"\xf9\x00\x00" + m[1:], "REQ-ENC-004"),
        case("extra-text-item", lambda m: m + b"\x61x", "REQ-ENC-009"),
        case("trailing-break-byte", lambda m: m + b"\xff", "REQ-ENC-009"),
        case("truncated-g-x", lambda m: m[:100], "REQ-ENC-007", "REQ-ENC-010"),
    ]


@pytest.mark.requirement("REQ-ENC-011", "REQ-HS-004", "REQ-HS-021")
@pytest.mark.parametrize("mutate", _mutations())
def test_malformed_message_1_gets_decode_error(device: Device, mutate: Any) -> None:
    _responder_role(device)
    parties = suite_parties(SUITE)
    message_1 = ReferencePeer("initiator", [SUITE], parties["initiator"], []).handshake_out()[0]
    session = _responder_session(device)
    result = expect_alert(
        lambda: device.client.session_deliver(session, mutate(message_1)),
        {"decode_error"},
        "non-canonical or malformed CBOR in message_1",
    )
    code, info = error_message(result.get("out"))
    assert code == 1 and isinstance(info, str) and info.startswith("decode_error"), (code, info)


@pytest.mark.requirement("REQ-CRED-007")
def test_peer_with_the_devices_own_subject_is_refused(device: Device) -> None:
    """Reflection protection: a peer credential whose sub equals the device's own is refused."""
    _responder_role(device)
    parties = suite_parties(SUITE)
    own_subject = parties["responder"].credential.subject
    twin = generate_identity(-48, subject=own_subject, rng=ShakeRng(b"pqiot conformance twin"))
    kid, _ = provision(device, SUITE, "responder", peer_credential=twin.credential)
    session, _ = start_session(device, "responder", [SUITE], cred=kid)
    peer = ReferencePeer(
        "initiator",
        [SUITE],
        Party(twin.credential, twin.private_key),
        [parties["responder"].credential],
    )

    def exchange() -> None:
        out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
        for reply in peer.deliver(out[0]):
            device.client.session_deliver(session, reply)

    result = expect_status(
        exchange, {Status.PROTOCOL_ALERT}, f"peer credential with sub {own_subject!r}"
    )
    assert result.get("alert") == "authentication_failed", result


@pytest.mark.requirement("REQ-KS-004", "REQ-ERR-003")
def test_by_value_credential_reusing_a_stored_kid_is_refused(device: Device) -> None:
    """A by-value credential under the kid of an allow-listed peer never replaces it."""
    _responder_role(device)
    parties = suite_parties(SUITE)
    impostor = generate_identity(
        -48,
        subject="impostor.conformance.pqiot",
        kid=parties["initiator"].credential.kid,
        rng=ShakeRng(b"pqiot conformance impostor"),
    )
    session = _responder_session(device)
    peer = ReferencePeer(
        "initiator",
        [SUITE],
        Party(impostor.credential, impostor.private_key),
        [parties["responder"].credential],
        by_value=True,
    )
    result = _drive_until_alert(device, session, peer)
    assert result.get("alert") == "authentication_failed", result
    code, info = error_message(result.get("out"))
    assert code == 1 and isinstance(info, str) and info.startswith("authentication_failed")
