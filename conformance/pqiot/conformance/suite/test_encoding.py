"""The CBOR profile of spec chapter 2, on what the device sends and what it must refuse.

Encoder side (REQ-ENC-001): everything the device puts on the wire, including
the encrypted PLAINTEXT_2/3 the tester reads from its trace, must re-encode to
the same bytes under deterministic encoding. Decoder side: the faults are
placed where only the CBOR decoder can catch them (the ID_CRED_x map of
PLAINTEXT_3, ERR_INFO of a received error, the TAP request map), so the only
correct answer is ``decode_error`` (TAP: status 2).
"""

from __future__ import annotations

import pytest

from pqiot.conformance.conversation import error_message, provision
from pqiot.conformance.device import Device
from pqiot.conformance.handshake_probes import (
    Outcome,
    TracedPeer,
    alert_in_err_info,
    deliver,
    device_initiator,
    device_responder,
    drive,
    initiator_peer_for,
    reseal_message_3,
    start_sending_credential_by_value,
)
from pqiot.conformance.peer import suite_parties
from pqiot.reference import cbor
from pqiot.reference.tap.codes import Status

SUITE = -102


def _needs_role(device: Device, role: str) -> None:
    if role not in device.statement.roles:
        pytest.skip(f"not applicable: role {role} not declared")


def _canonical(data: bytes, what: str) -> None:
    """Strict decoding (shortest heads, definite lengths, sorted keys) and identical re-encoding."""
    items = cbor.decode_sequence(data, max_items=4096)
    assert cbor.encode_sequence(*items) == data, f"{what} is not deterministically encoded"


@pytest.mark.requirement("REQ-ENC-001", "REQ-CRED-006")
def test_everything_the_device_sends_is_deterministic_cbor(
    device: Device, device_role: str
) -> None:
    """A handshake with the device's credential by value (a nested map), then an error."""
    parties = suite_parties(SUITE)
    tester_role = "responder" if device_role == "initiator" else "initiator"
    kid, tester = provision(device, SUITE, device_role)
    peer = TracedPeer(tester_role, [SUITE], tester, [parties[device_role].credential])
    session, out, by_value = start_sending_credential_by_value(device, device_role, [SUITE], kid)
    transcript = drive(device, session, peer, out)
    assert peer.established, "the handshake must complete to read the device's plaintexts"
    for index, (who, message) in enumerate(transcript):
        if who == "device":
            _canonical(message, f"handshake message {index}")
    plaintext = "PLAINTEXT_2" if device_role == "responder" else "PLAINTEXT_3"
    _canonical(peer.trace[plaintext], plaintext)
    if by_value:
        assert b"\xa1\x0e" in peer.trace[plaintext], f"{plaintext} must carry {{14: CCS}}"
    if device_role == "responder":
        session, _ = device_responder(device, SUITE)
        refused = deliver(device, session, b"\x00\x38\x65\x41")
        assert len(refused.out) == 1, f"a truncated message_1 must be answered: {refused.summary()}"
        _canonical(refused.out[0], "the EDHOC error message")


def _message_3_with_id_cred(device: Device, id_cred: bytes) -> tuple[int, bytes]:
    """Device Responder in WAIT_M3 and a message_3 whose PLAINTEXT_3 opens with ``id_cred``."""
    session, _ = device_responder(device, SUITE)
    peer = initiator_peer_for(SUITE)
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    peer.deliver(out[0])
    signature = cbor.encode(peer.trace["Signature_or_MAC_3"])
    return session, reseal_message_3(peer.trace, SUITE, id_cred + signature)


def _assert_decode_error(outcome: Outcome, what: str) -> None:
    assert (outcome.status, outcome.alert) == (Status.PROTOCOL_ALERT, "decode_error"), (
        f"{what}: expected decode_error, got {outcome.summary()}"
    )
    code, info = error_message(outcome.result.get("out"))
    assert code == 1 and alert_in_err_info(info) == "decode_error", (code, info)


#: ID_CRED_I maps the decoder must refuse; the valid form is {4: h'2b'} = a1 04 41 2b.
_BAD_MAPS = [
    pytest.param(b"\xa2\x04\x41\x2b\x04\x41\x2b", id="duplicate-key"),
    pytest.param(b"\xa2\x04\x41\x2b\x01\x01", id="keys-out-of-order"),
    pytest.param(b"\xa2\x01\x01\x41\x04\x41\x2b", id="bstr-key"),
    pytest.param(b"\xa2\x01\x01\xf5\x41\x2b", id="bool-key"),
]


@pytest.mark.conversation
@pytest.mark.requirement("REQ-ENC-005", "REQ-HS-013")
@pytest.mark.parametrize("id_cred", _BAD_MAPS)
def test_non_deterministic_maps_are_refused(device: Device, id_cred: bytes) -> None:
    _needs_role(device, "responder")
    session, message_3 = _message_3_with_id_cred(device, id_cred)
    _assert_decode_error(deliver(device, session, message_3), f"ID_CRED_I map {id_cred.hex()}")


def _nested(depth: int) -> bytes:
    return b"\x81" * depth + b"\x00"


def _ccs_with_claim(value: bytes) -> bytes:
    """The tester's CCS under an unknown kid plus private claim -70000 = ``value`` (raw CBOR).

    The claim is legal (``* int => any``), so a decoder without the bounds
    reads the credential and refuses it later (TOFU is off); only the bounds
    make it a decode_error.
    """
    ccs = cbor.decode(suite_parties(SUITE)["initiator"].credential.cred)
    assert isinstance(ccs, dict) and len(ccs) == 2
    ccs[8][1][2] = b"\x7f\x02"  # type: ignore[index]
    encoded = cbor.encode(ccs)
    return b"\xa3" + encoded[1:] + cbor.encode(-70000) + value  # -70000 sorts after 8


@pytest.mark.conversation
@pytest.mark.requirement("REQ-ENC-008", "REQ-HS-013")
def test_too_deep_nesting_in_plaintext_3_is_refused(device: Device) -> None:
    """A by-value CCS in PLAINTEXT_3 whose private claim nests 21 arrays: decode_error.

    Without the depth bound the plaintext decodes and the credential is refused
    later (unknown kid, TOFU off) with another alert.
    """
    _needs_role(device, "responder")
    id_cred = b"\xa1\x0e" + _ccs_with_claim(_nested(20))
    session, message_3 = _message_3_with_id_cred(device, id_cred)
    _assert_decode_error(deliver(device, session, message_3), "PLAINTEXT_3 nested 23 levels deep")


_BAD_UTF8 = [
    pytest.param(b"\xc3\x28", id="bad-continuation"),
    pytest.param(b"\xc0\xaf", id="overlong-slash"),
    pytest.param(b"\xed\xa0\x80", id="surrogate-d800"),
    pytest.param(b"\xf4\x90\x80\x80", id="above-10ffff"),
]


@pytest.mark.conversation
@pytest.mark.requirement("REQ-ENC-006")
@pytest.mark.parametrize("text", _BAD_UTF8)
def test_invalid_utf8_in_err_info_is_a_decode_error(device: Device, text: bytes) -> None:
    """An error message whose ERR_INFO is not UTF-8 ends the session with decode_error."""
    _needs_role(device, "initiator")
    session, _ = device_initiator(device, SUITE)
    error = b"\x01" + bytes([0x60 | len(text)]) + text
    outcome = deliver(device, session, error)
    assert (outcome.status, outcome.alert) == (Status.PROTOCOL_ALERT, "decode_error"), (
        f"ERR_INFO bytes {text.hex()}: {outcome.summary()}"
    )


@pytest.mark.requirement("REQ-ENC-008", "REQ-ENC-011", "REQ-TAP-004")
@pytest.mark.parametrize(
    ("value", "malformed"),
    [
        pytest.param(_nested(20), True, id="nesting-22-levels"),
        pytest.param(b"\x99\x13\x88" + bytes(5000), True, id="array-of-5000-items"),
        pytest.param(b"\x99\x03\xe8" + bytes(1000), False, id="control-array-of-1000"),
    ],
)
def test_tap_request_beyond_the_decoder_bounds_is_malformed(
    device: Device, value: bytes, malformed: bool
) -> None:
    """ECHO with an extra (ignored) argument: its value must still pass the depth/item bounds.

    Levels: request array 0, args map 1, the value from 2. The control (1000
    items) shows that an array argument as such is acceptable, so a refusal of
    5000 items is the item bound at work.
    """
    request = _tap_echo(b"\xa2\x64data\x41\x01\x64zzzz" + value)
    assert len(request) <= device.limit("max_tap_request", 8192)
    response = device.raw(request)
    if malformed:
        assert response.status == Status.MALFORMED, (
            f"expected status 2 (decode_error), got {response.status} {response.result!r}"
        )
    else:
        assert (response.status, response.result.get("data")) == (0, b"\x01"), (
            f"a request inside the bounds must be answered: {response.status} {response.result!r}"
        )
    assert device.alive()


def _tap_echo(args: bytes) -> bytes:
    """[2 (ECHO), request_id 7, args] with the args map given as raw bytes."""
    return b"\x83\x02\x07" + args


@pytest.mark.requirement("REQ-ENC-005", "REQ-ENC-006", "REQ-ENC-011", "REQ-TAP-003")
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(b"\xa2\x64data\x41\x01\x64data\x41\x02", id="duplicate-key"),
        pytest.param(b"\xa2\x64data\x41\x01\x61x\x41\x02", id="keys-out-of-order"),
        pytest.param(b"\xa1\x41\x00\x41\x01", id="bstr-key"),
        pytest.param(b"\xa1\x62\xc3\x28\x41\x01", id="invalid-utf8-key"),
    ],
)
def test_tap_request_with_a_non_deterministic_map_is_malformed(device: Device, args: bytes) -> None:
    response = device.raw(_tap_echo(args))
    assert response.status == Status.MALFORMED, (
        f"TAP request args {args.hex()}: expected status 2, got {response.status} "
        f"{response.result!r}"
    )
    assert device.alive()
