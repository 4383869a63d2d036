"""Record-layer session rules of spec chapter 7: close, content types, ack and timer rules."""

from __future__ import annotations

import hashlib

import pytest

from pqiot.reference import cbor
from pqiot.reference.crypto import registry
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.errors import Alert, ProtocolError
from pqiot.reference.oscore.context import derive_context
from pqiot.reference.oscore.nonce import aead_nonce
from pqiot.reference.records.layer import RecordLayer, SessionClosed, record_aad
from pqiot.reference.records.persistence import MemorySequenceStore
from pqiot.reference.records.record import ContentType, decode_close_body, encode_record

APP = ContentType.APPLICATION_DATA
SECRET, SALT = b"\x33" * 32, b"\x44" * 8


def derive(nonce: bytes) -> tuple[bytes, bytes]:
    return hashlib.sha256(nonce).digest(), nonce[:8]


def make(sender: bytes, recipient: bytes, *, epoch: int = 0) -> RecordLayer:
    return RecordLayer(
        aead=registry.aead(3), hkdf=registry.hash_algorithm(-16), master_secret=SECRET,
        master_salt=SALT, sender_id=sender, recipient_id=recipient, store=MemorySequenceStore(),
        derive_next_epoch=derive, epoch=epoch,
    )  # fmt: skip


def forge_authentic(plaintext: bytes, ssn: int = 7, epoch: int = 0) -> bytes:
    """A record from peer 01 with an arbitrary (authentic) plaintext, built outside the layer."""
    ctx = derive_context(
        master_secret=SECRET, master_salt=SALT, sender_id=b"\x01", recipient_id=b"\x02",
        aead=registry.aead(3), hkdf=registry.hash_algorithm(-16),
    )  # fmt: skip
    piv = bytes([ssn])
    nonce = aead_nonce(ctx.common_iv, b"\x01", piv)
    ciphertext = ctx.aead.seal(ctx.sender_key, nonce, plaintext, record_aad(3, b"\x01", piv, b""))
    return encode_record(piv, b"\x01", epoch, ciphertext)


def alert_of(layer: RecordLayer, record: bytes) -> Alert:
    with pytest.raises(ProtocolError) as info:
        layer.unprotect(record)
    return info.value.alert


def test_orderly_close_discards_both_sides() -> None:
    """REQ-REC-007/008: a close record ends the session on both sides; the receiver does not reply."""
    a, b = make(b"\x01", b"\x02"), make(b"\x02", b"\x01")
    record = a.close()
    assert a.closed and b.unprotect(record) == (ContentType.CLOSE, cbor.encode(None))
    assert b.closed and b.records_to_send() == []
    events = [b.next_event()]
    assert events == [SessionClosed(alert=None, origin="peer")]
    for layer in (a, b):
        with pytest.raises(ProtocolError):
            layer.protect(APP, b"late")


@pytest.mark.parametrize(
    ("plaintext", "alert"),
    [
        (b"\x00data", Alert.UNEXPECTED_MESSAGE),
        (b"\x05data", Alert.UNEXPECTED_MESSAGE),
        (b"\x02" + bytes(15), Alert.DECODE_ERROR),
        (b"\x03x", Alert.DECODE_ERROR),
        (b"\x03", Alert.UNEXPECTED_MESSAGE),
        (b"\x04" + cbor.encode(5), Alert.DECODE_ERROR),
    ],
    ids=["type-0", "type-5", "short-key-update", "ack-with-body", "ack-unasked", "bad-close"],
)
def test_bad_authenticated_plaintext_closes_with_the_right_alert(
    plaintext: bytes, alert: Alert
) -> None:
    """REQ-REC-006, REQ-KU-007: bad plaintext in an authenticated record -> close record with alert."""
    b = make(b"\x02", b"\x01")
    assert alert_of(b, forge_authentic(plaintext)) is alert
    (close,) = b.records_to_send()
    content_type, body = make(b"\x01", b"\x02").unprotect(close)
    assert content_type is ContentType.CLOSE and decode_close_body(body) is alert
    assert b.closed


def test_record_too_short_for_a_content_type_is_dropped_silently() -> None:
    """REQ-REC-002: a record shorter than option + tag + 1 is dropped before decryption, no close."""
    b = make(b"\x02", b"\x01")
    assert alert_of(b, forge_authentic(b"")) is Alert.DECODE_ERROR
    assert b.records_to_send() == [] and not b.closed


def test_key_update_timeout_closes_the_session() -> None:
    """REQ-KU-006: no record of the new epoch before the timeout -> close with key_update_failed."""
    a, b = make(b"\x01", b"\x02"), make(b"\x02", b"\x01")
    b.unprotect(a.start_key_update(ShakeRng(b"t"), now=100.0))  # b's ack is lost
    assert a.timer_deadline == 110.0
    a.handle_timer(109.9)
    with pytest.raises(ProtocolError) as info:
        a.handle_timer(110.0)
    assert info.value.alert is Alert.KEY_UPDATE_FAILED
    (close,) = a.records_to_send()
    content_type, body = b.unprotect(close)
    assert content_type is ContentType.CLOSE and decode_close_body(body) is Alert.KEY_UPDATE_FAILED


def test_no_key_update_beyond_epoch_255() -> None:
    """REQ-KU-007: a key_update received at epoch 255 closes with key_update_failed."""
    a, b = make(b"\x01", b"\x02", epoch=255), make(b"\x02", b"\x01", epoch=255)
    with pytest.raises(ProtocolError) as info:
        a.start_key_update(ShakeRng(b"x"))
    assert info.value.alert is Alert.KEY_UPDATE_FAILED
    assert alert_of(b, forge_authentic(b"\x02" + bytes(16), epoch=255)) is Alert.KEY_UPDATE_FAILED
    assert b.closed
