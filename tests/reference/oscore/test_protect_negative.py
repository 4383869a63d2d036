"""OSCORE over CoAP (RFC 8613 §8): failures are typed alerts, and replays are refused."""

from __future__ import annotations

import pytest

from pqiot.reference.crypto import registry
from pqiot.reference.errors import Alert, DecodeError, ProtocolError
from pqiot.reference.oscore import coap, protect
from pqiot.reference.oscore.context import SecurityContext, derive_context
from pqiot.reference.records.replay import ReplayWindow


def ctx(sender: bytes, recipient: bytes) -> SecurityContext:
    return derive_context(
        master_secret=b"\x11" * 16,
        master_salt=b"\x22" * 8,
        sender_id=sender,
        recipient_id=recipient,
        aead=registry.aead(10),
        hkdf=registry.hash_algorithm(-16),
    )


CLIENT, SERVER = ctx(b"\x01", b""), ctx(b"", b"\x01")
REQUEST = coap.CoapMessage(
    coap.MessageType.CON,
    0x03,
    7,
    b"\x09",
    ((3, b"example.org"), (11, b"valve"), (12, b"\x00")),
    b"open",
)


def test_class_u_options_stay_outside_and_class_e_inside() -> None:
    """RFC 8613 §4.1: Uri-Host is outer; Uri-Path, Content-Format, code and payload are encrypted."""
    protected, _ = protect.protect_request(CLIENT, REQUEST, 5)
    assert protected.code == 0x02  # POST hides PUT
    assert [n for n, _ in protected.options] == [3, 9]
    assert b"valve" not in coap.encode_message(protected)
    plain, _ = protect.unprotect_request(SERVER, protected)
    assert plain == REQUEST


def test_replayed_request_is_refused_only_after_first_acceptance() -> None:
    protected, _ = protect.protect_request(CLIENT, REQUEST, 5)
    window = ReplayWindow()
    forged = coap.CoapMessage(
        protected.mtype,
        protected.code,
        7,
        b"\x09",
        protected.options,
        b"\x00" * len(protected.payload),
    )
    with pytest.raises(ProtocolError) as info:
        protect.unprotect_request(SERVER, forged, replay=window)
    assert info.value.alert is Alert.DECRYPT_FAILED
    protect.unprotect_request(SERVER, protected, replay=window)  # the forgery did not burn PIV 5
    with pytest.raises(ProtocolError) as info:
        protect.unprotect_request(SERVER, protected, replay=window)
    assert info.value.alert is Alert.REPLAY_DETECTED


def test_response_is_bound_to_its_request() -> None:
    """RFC 8613 §7.1: a response to request A does not verify as a response to request B."""
    _, binding_a = protect.protect_request(CLIENT, REQUEST, 1)
    _, binding_b = protect.protect_request(CLIENT, REQUEST, 2)
    response = coap.CoapMessage(coap.MessageType.ACK, 0x45, 7, b"\x09", (), b"ok")
    for piv in (None, 0):
        protected = protect.protect_response(SERVER, response, binding_a, piv)
        assert protect.unprotect_response(CLIENT, protected, binding_a) == response
        with pytest.raises(ProtocolError) as info:
            protect.unprotect_response(CLIENT, protected, binding_b)
        assert info.value.alert is Alert.DECRYPT_FAILED


def test_unknown_kid_and_malformed_oscore_messages() -> None:
    protected, _ = protect.protect_request(ctx(b"\x02", b""), REQUEST, 1)
    with pytest.raises(ProtocolError) as info:
        protect.unprotect_request(SERVER, protected)
    assert info.value.alert is Alert.DECRYPT_FAILED
    with pytest.raises(DecodeError):
        protect.unprotect_request(SERVER, REQUEST)  # no OSCORE option at all
    no_kid = coap.CoapMessage(coap.MessageType.CON, 0x02, 1, b"", ((9, b"\x01\x05"),), b"\x00" * 9)
    with pytest.raises(DecodeError):
        protect.unprotect_request(SERVER, no_kid)


def test_proxy_uri_must_be_decomposed_first() -> None:
    with pytest.raises(ValueError, match="Proxy-Uri"):
        protect.protect_request(
            CLIENT, coap.CoapMessage(coap.MessageType.CON, 1, 1, b"", ((35, b"coap://x/"),)), 1
        )
