"""Record wire format (D4): a fixed-input known answer, plus the decoder's rejections.

The known answer is computed here independently of the record layer: the AAD
is spelled out byte by byte and sealed with ``cryptography``'s AES-GCM directly.
"""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from pqiot.reference import cbor
from pqiot.reference.crypto import registry
from pqiot.reference.errors import Alert, DecodeError, ProtocolError
from pqiot.reference.oscore.context import derive_context, kdf_info
from pqiot.reference.records.layer import RecordLayer, record_aad
from pqiot.reference.records.persistence import MemorySequenceStore
from pqiot.reference.records.record import (
    ContentType,
    decode_close_body,
    decode_record,
    encode_close_body,
    encode_record,
)

MASTER_SECRET = bytes(range(32))
MASTER_SALT = bytes.fromhex("a5a5a5a5a5a5a5a5")
TOPIC = b"plant/line1/temp"  # MQTT binding context (16 bytes)


def layer(
    *, epoch: int = 0, sender: bytes = b"\x01", recipient: bytes = b"\x02", binding: bytes = TOPIC
) -> RecordLayer:
    return RecordLayer(
        aead=registry.aead(3),
        hkdf=registry.hash_algorithm(-16),
        master_secret=MASTER_SECRET,
        master_salt=MASTER_SALT,
        sender_id=sender,
        recipient_id=recipient,
        store=MemorySequenceStore(),
        binding_context=binding,
        epoch=epoch,
    )


def expected_record(
    header: bytes, piv: bytes, epoch_aad_kid: bytes, nonce_block: bytes, plaintext: bytes
) -> bytes:
    ctx = derive_context(  # key schedule itself is checked against RFC 8613 App. C elsewhere
        master_secret=MASTER_SECRET,
        master_salt=MASTER_SALT,
        sender_id=b"\x01",
        recipient_id=b"\x02",
        aead=registry.aead(3),
        hkdf=registry.hash_algorithm(-16),
    )
    external_aad = (
        bytes([0x86])  # array(6)
        + bytes([0x01])  # oscore_version 1
        + bytes([0x81, 0x03])  # [alg_aead = 3 (A256GCM)]
        + bytes([0x41])
        + epoch_aad_kid  # kid = h'01'
        + bytes([0x41])
        + piv  # piv
        + bytes([0x40])  # options h''
        + bytes([0x50])
        + TOPIC  # binding context, bstr(16)
    )
    aad = bytes([0x83, 0x68]) + b"Encrypt0" + bytes([0x40, 0x58, len(external_aad)]) + external_aad
    nonce = bytes(a ^ b for a, b in zip(nonce_block, ctx.common_iv, strict=True))
    return header + AESGCM(ctx.sender_key).encrypt(nonce, plaintext, aad)


def test_first_record_known_answer() -> None:
    """D4 wire format, epoch 0: 03 || 09 00 01 (flags k|n=1, PIV 00, kid 01) || AES-GCM(0x01 'hello')."""
    record = layer().protect(ContentType.APPLICATION_DATA, b"hello")
    nonce_block = (
        bytes([1]) + bytes(5) + b"\x01" + bytes(5)
    )  # len(ID) || ID padded to 6 || PIV padded to 5
    assert record == expected_record(
        bytes.fromhex("03090001"), b"\x00", b"\x01", nonce_block, b"\x01hello"
    )


def test_epoch_is_a_one_byte_kid_context_and_not_in_the_aad() -> None:
    """REQ-REC-001: epoch > 0 travels as kid context (flags 0x19, s = 1); PIV 01 for the 2nd record."""
    sender = layer(epoch=2)
    sender.protect(ContentType.APPLICATION_DATA, b"first")
    record = sender.protect(ContentType.CLOSE, encode_close_body(None))  # orderly close: CBOR null
    nonce_block = bytes([1]) + bytes(5) + b"\x01" + bytes(4) + b"\x01"
    assert record == expected_record(
        bytes.fromhex("051901010201"), b"\x01", b"\x01", nonce_block, b"\x04\xf6"
    )


def test_spec_worked_example_of_section_7_1_1() -> None:
    """REQ-REC-001/003/004, REQ-KEYS-011: spec §6.6 keys and the §7.1.1 record, byte for byte."""
    ctx = derive_context(
        master_secret=bytes(range(32)), master_salt=bytes(range(0xA0, 0xA8)), sender_id=b"\x01",
        recipient_id=b"\x02", aead=registry.aead(3), hkdf=registry.hash_algorithm(-16),
    )  # fmt: skip
    assert kdf_info(b"\x01", None, 3, "Key", 32).hex() == "854101f603634b65791820"
    assert (
        ctx.sender_key.hex() == "50f98cbc1f197ce148bb74f061e7a1518958967705383af2848c281d5f01ee99"
    )
    assert kdf_info(b"", None, 3, "IV", 12).hex() == "8540f6036249560c"
    assert ctx.common_iv.hex() == "f6c30b2cad6d5e83db44f592"
    sender = RecordLayer(
        aead=registry.aead(3), hkdf=registry.hash_algorithm(-16), master_secret=bytes(range(32)),
        master_salt=bytes(range(0xA0, 0xA8)), sender_id=b"\x01", recipient_id=b"\x02",
        store=MemorySequenceStore(),
    )  # fmt: skip
    for _ in range(5):
        sender.protect(ContentType.APPLICATION_DATA, b"")
    record = sender.protect(ContentType.APPLICATION_DATA, b"hello")  # SSN 5, TCP: empty context
    assert record.hex() == "0309050142a2e3c3f8ef90c3bc2137f80c461bd896c8d72d384a"


@pytest.mark.parametrize(
    ("alert", "detail", "body"),
    [
        (None, "", "f6"),
        (Alert.DECODE_ERROR, "", "6c6465636f64655f6572726f72"),
        (Alert.REPLAY_DETECTED, "x", "72" + b"replay_detected: x".hex()),
    ],
)
def test_close_body_encoding(alert: Alert | None, detail: str, body: str) -> None:
    """Spec §7.3: close body = null, or tstr "<alert_name>[: <detail>]" of at most 128 bytes."""
    assert encode_close_body(alert, detail).hex() == body
    assert decode_close_body(bytes.fromhex(body)) is alert


def test_close_body_decoding_rules() -> None:
    """REQ-ERR-002: unknown alert names read as unspecified_error; other shapes are decode errors."""
    assert decode_close_body(cbor.encode("no_such_alert: hi")) is Alert.UNSPECIFIED_ERROR
    assert len(encode_close_body(Alert.INTERNAL_ERROR, "d" * 500)) <= 2 + 128
    for bad in (cbor.encode(1), cbor.encode("x" * 129), b"\xf6\xf6", b""):
        with pytest.raises(DecodeError):
            decode_close_body(bad)


def test_record_aad_matches_spelled_out_bytes() -> None:
    assert record_aad(3, b"\x01", b"\x00", b"") == bytes.fromhex(
        "8368456e63727970743040"  # ["Encrypt0", h'', bstr(10) ...
        "4a860181034101410040"  # [1, [3], h'01', h'00', h'',
        "40"  # h'' (TCP: empty binding context)]
    )


def test_round_trip_between_peers() -> None:
    alice, bob = layer(), layer(sender=b"\x02", recipient=b"\x01")
    for body in (b"", b"x", bytes(range(256)) * 10):
        assert bob.unprotect(alice.protect(ContentType.APPLICATION_DATA, body)) == (
            ContentType.APPLICATION_DATA,
            body,
        )


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (bytes.fromhex("05090001"), "option length beyond end"),
        (bytes.fromhex("00") + bytes(20), "no PIV, no kid"),
        (bytes.fromhex("020100") + bytes(20), "no kid"),
        (bytes.fromhex("0308000101") + bytes(20), "kid but no PIV"),
        (bytes.fromhex("040a000001") + bytes(20), "PIV 0x0000 not minimal"),
        (bytes.fromhex("0519010100") + b"\x01" + bytes(20), "epoch byte 0 in kid context"),
        (bytes.fromhex("061901020001") + b"\x01" + bytes(20), "two-byte kid context"),
        (bytes.fromhex("03890001") + bytes(20), "reserved flag bit"),
        (bytes.fromhex("030e0001") + bytes(20), "PIV length 6 reserved"),
    ],
)
def test_decoder_rejects_malformed_records(data: bytes, why: str) -> None:
    with pytest.raises(DecodeError):
        decode_record(data)


def test_decoder_enforces_size_and_minimum_ciphertext() -> None:
    record = encode_record(b"\x07", b"\x01", 0, bytes(40))
    assert decode_record(record).ciphertext == bytes(40)
    with pytest.raises(DecodeError):
        decode_record(record, max_size=len(record) - 1)
    with pytest.raises(DecodeError):
        decode_record(record, min_ciphertext=41)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_record_decoder_and_layer_raise_only_protocol_errors(data: bytes) -> None:
    """Fuzz: random input is rejected with DecodeError (parser) or a ProtocolError alert (layer)."""
    with contextlib.suppress(DecodeError):
        decode_record(data)
    receiver = layer(sender=b"\x02", recipient=b"\x01")
    with pytest.raises(ProtocolError) as info:
        receiver.unprotect(data)
    assert info.value.alert in (Alert.DECODE_ERROR, Alert.DECRYPT_FAILED, Alert.MESSAGE_TOO_LARGE)
    assert receiver.records_to_send() == []
