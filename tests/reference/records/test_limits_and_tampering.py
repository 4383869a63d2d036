"""Usage limits (draft-ietf-core-oscore-key-limits, D4) and tampered records (never accepted)."""

from __future__ import annotations

import pytest

from pqiot.reference.crypto import registry
from pqiot.reference.errors import Alert, ProtocolError
from pqiot.reference.records.layer import KeyUpdateNeeded, RecordLayer, UsageLimitReached
from pqiot.reference.records.limits import UsageLimits, limits_for
from pqiot.reference.records.persistence import MemorySequenceStore
from pqiot.reference.records.record import ContentType, decode_close_body, encode_close_body

APP = ContentType.APPLICATION_DATA


def make(
    sender: bytes,
    recipient: bytes,
    *,
    binding: bytes = b"\x05",
    limits: UsageLimits | None = None,
    alg: int = 10,
) -> RecordLayer:
    return RecordLayer(
        aead=registry.aead(alg),
        hkdf=registry.hash_algorithm(-16),
        master_secret=b"\x09" * registry.aead(alg).key_size,
        master_salt=b"\x08" * 8,
        sender_id=sender,
        recipient_id=recipient,
        store=MemorySequenceStore(),
        binding_context=binding,
        limits=limits,
    )


def alert_of(layer: RecordLayer, record: bytes) -> Alert:
    with pytest.raises(ProtocolError) as info:
        layer.unprotect(record)
    return info.value.alert


def test_limit_table_follows_the_draft() -> None:
    """Spec §7.9 / draft-ietf-core-oscore-key-limits: q, v, l and the threshold q - floor(q/10).

    REQ-REC-012: plaintext + tag at most 16384 bytes for A256GCM, ChaCha20/Poly1305
    and AES-CCM-16-128-128, 4096 bytes for AES-CCM-16-64-128.
    """
    assert limits_for(10) == UsageLimits(q=2**20, v=2**14, max_message_bytes=4096)
    for alg in (1, 3, 24, 30):
        assert limits_for(alg) == UsageLimits(q=2**20, v=2**20, max_message_bytes=16384)
    assert limits_for(3).key_update_threshold == 943_719
    with pytest.raises(ValueError):
        limits_for(-999)


def test_key_update_event_at_threshold_and_close_at_q() -> None:
    """REQ-KU-010/011: event at q - q//10; the encryption that reaches q is a close record."""
    a = make(b"\x01", b"\x02", limits=UsageLimits(q=10, v=5, max_message_bytes=4096))
    b = make(b"\x02", b"\x01")
    for _ in range(8):
        b.unprotect(a.protect(APP, b"x"))
    assert a.next_event() is None
    b.unprotect(a.protect(APP, b"x"))  # 9th record: count_q = 9 = 10 - 10 // 10
    assert a.next_event() == KeyUpdateNeeded(epoch=0, sent=9)
    with pytest.raises(ProtocolError) as info:
        a.protect(APP, b"x")  # would be the 10th encryption
    assert info.value.alert is Alert.USAGE_LIMIT_REACHED
    assert isinstance(a.next_event(), UsageLimitReached)
    (close,) = a.records_to_send()
    assert b.unprotect(close) == (ContentType.CLOSE, encode_close_body(Alert.USAGE_LIMIT_REACHED))
    assert a.closed and b.closed
    with pytest.raises(ProtocolError) as info:
        a.protect(APP, b"x")
    assert info.value.alert is Alert.USAGE_LIMIT_REACHED


def test_integrity_limit_discards_the_recipient_context() -> None:
    """REQ-KU-012: at v failed decryptions the session is discarded with a close record."""
    a = make(b"\x01", b"\x02")
    b = make(b"\x02", b"\x01", limits=UsageLimits(q=100, v=3, max_message_bytes=4096))
    forged = bytearray(a.protect(APP, b"x"))
    forged[-1] ^= 1
    for _ in range(2):
        assert alert_of(b, bytes(forged)) is Alert.DECRYPT_FAILED
    assert b.records_to_send() == []  # REQ-ERR-004: nothing on the wire for dropped records
    assert alert_of(b, bytes(forged)) is Alert.DECRYPT_FAILED
    (close,) = b.records_to_send()
    assert alert_of(b, a.protect(APP, b"valid")) is Alert.USAGE_LIMIT_REACHED
    content_type, body = a.unprotect(close)
    assert (
        content_type is ContentType.CLOSE and decode_close_body(body) is Alert.USAGE_LIMIT_REACHED
    )


def test_failed_decryption_count_survives_a_restart() -> None:
    """REQ-KU-013: count_v is persisted K ahead, so a restart never lowers it."""
    store = MemorySequenceStore()
    limits = UsageLimits(q=100, v=6, max_message_bytes=4096)

    def receiver() -> RecordLayer:
        return RecordLayer(
            aead=registry.aead(10), hkdf=registry.hash_algorithm(-16), master_secret=b"\x09" * 16,
            master_salt=b"\x08" * 8, sender_id=b"\x02", recipient_id=b"\x01", store=store,
            binding_context=b"\x05", limits=limits, k=2,
        )  # fmt: skip

    forged = bytearray(make(b"\x01", b"\x02").protect(APP, b"x"))
    forged[-1] ^= 1
    for _ in range(3):
        assert alert_of(receiver(), bytes(forged)) is Alert.DECRYPT_FAILED  # one failure per boot
    survivor = receiver()
    alert_of(survivor, bytes(forged))
    assert survivor.closed, "three boots x (1 failure + K-ahead bound) must reach v = 6"


def test_oversize_records_are_refused_both_ways() -> None:
    """REQ-REC-012: plaintext + tag <= 4096 bytes for AES-CCM-16-64-128."""
    a, b = make(b"\x01", b"\x02"), make(b"\x02", b"\x01")
    assert b.unprotect(a.protect(APP, bytes(4096 - 8 - 1)))[1] == bytes(4087)
    with pytest.raises(ProtocolError) as info:
        a.protect(APP, bytes(4096 - 8))
    assert info.value.alert is Alert.MESSAGE_TOO_LARGE
    big = make(b"\x01", b"\x02", limits=UsageLimits(q=100, v=100, max_message_bytes=8192))
    assert alert_of(b, big.protect(APP, bytes(5000))) is Alert.MESSAGE_TOO_LARGE


@pytest.mark.parametrize("alg", [10, 3, 24])
def test_every_single_bit_flip_is_rejected(alg: int) -> None:
    """Flipping any bit of header, ciphertext or tag yields decrypt_failed or decode_error, never data."""
    a, b = make(b"\x01", b"\x02", alg=alg), make(b"\x02", b"\x01", alg=alg)
    a.protect(APP, b"burn PIV 0")
    record = a.protect(APP, b"open the valve")
    for bit in range(8 * len(record)):
        tampered = bytearray(record)
        tampered[bit // 8] ^= 1 << (bit % 8)
        assert alert_of(b, bytes(tampered)) in (Alert.DECRYPT_FAILED, Alert.DECODE_ERROR), bit
    assert b.unprotect(record) == (
        APP,
        b"open the valve",
    )  # the receiver is still alive and in sync
    assert alert_of(b, record) is Alert.REPLAY_DETECTED


def test_truncated_and_extended_records_are_rejected() -> None:
    a, b = make(b"\x01", b"\x02"), make(b"\x02", b"\x01")
    record = a.protect(APP, b"payload")
    for cut in range(len(record)):
        assert alert_of(b, record[:cut]) in (Alert.DECRYPT_FAILED, Alert.DECODE_ERROR)
    assert alert_of(b, record + b"\x00") is Alert.DECRYPT_FAILED


def test_binding_context_is_authenticated() -> None:
    """D4: the record is bound to its topic/channel; the same bytes on another topic fail."""
    record = make(b"\x01", b"\x02", binding=b"site/a").protect(APP, b"x")
    assert alert_of(make(b"\x02", b"\x01", binding=b"site/b"), record) is Alert.DECRYPT_FAILED
    assert make(b"\x02", b"\x01", binding=b"site/a").unprotect(record) == (APP, b"x")


def test_records_from_an_unknown_sender_are_rejected() -> None:
    record = make(b"\x03", b"\x02").protect(APP, b"x")
    assert alert_of(make(b"\x02", b"\x01"), record) is Alert.DECRYPT_FAILED


def test_chacha20_poly1305_record_limit_is_16384_bytes() -> None:
    """REQ-REC-012: ChaCha20/Poly1305 plaintext + tag <= 16384 bytes (not 2^10 64-byte blocks).

    Plaintext is the content-type byte plus the body; the tag is 16 bytes.
    """
    a, b = make(b"\x01", b"\x02", alg=24), make(b"\x02", b"\x01", alg=24)
    largest = 16384 - 16 - 1
    assert b.unprotect(a.protect(APP, bytes(largest))) == (APP, bytes(largest))
    with pytest.raises(ProtocolError) as info:
        a.protect(APP, bytes(largest + 1))
    assert info.value.alert is Alert.MESSAGE_TOO_LARGE
    roomy = UsageLimits(q=100, v=100, max_message_bytes=65536)
    big = make(b"\x01", b"\x02", alg=24, limits=roomy)
    big.protect(APP, b"")  # SSN 0 was accepted by b above
    assert alert_of(b, big.protect(APP, bytes(largest + 1))) is Alert.MESSAGE_TOO_LARGE
