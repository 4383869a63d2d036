"""decode(encode(x)) == x for every message and frame type, on structures Hypothesis draws."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from pqiot.fuzz import material
from pqiot.fuzz import strategies as pst
from pqiot.fuzz.profiles import fuzz_settings
from pqiot.reference import cbor
from pqiot.reference.credentials import parse_ccs
from pqiot.reference.edhoc import messages as hs
from pqiot.reference.edhoc.key_exchange import g_y_length
from pqiot.reference.edhoc.wire import encode_ead
from pqiot.reference.framing import cobs
from pqiot.reference.framing.length_prefix import FrameDecoder, encode_frame
from pqiot.reference.keystore import KeyStore
from pqiot.reference.oscore import coap
from pqiot.reference.oscore.option import decode_option, encode_option
from pqiot.reference.pubsub import GroupKey, MessageVerifier, sign_message
from pqiot.reference.records.record import (
    decode_close_body,
    decode_record,
    encode_close_body,
    encode_record,
)
from pqiot.reference.suites import DEFAULT_SUITE
from pqiot.reference.suites import get as get_suite

FUZZ = fuzz_settings()


@FUZZ
@given(pst.cbor_values())
def test_cbor_item_round_trips_and_is_canonical(value: cbor.CborValue) -> None:
    """REQ-ENC-001: one encoding per value; the decoder returns exactly what was encoded."""
    encoded = cbor.encode(value)
    assert cbor.decode(encoded) == value
    assert cbor.encode(cbor.decode(encoded)) == encoded


@FUZZ
@given(pst.cbor_sequences())
def test_cbor_sequence_round_trips(items: list[cbor.CborValue]) -> None:
    assert cbor.decode_sequence(cbor.encode_sequence(*items)) == items


@FUZZ
@given(pst.message_1s())
def test_message_1_round_trips(message: hs.Message1) -> None:
    assert hs.decode_message_1(hs.encode_message_1(message)) == message


@FUZZ
@given(pst.message_2s())
def test_message_2_round_trips_with_the_suites_g_y_length(parts: tuple[bytes, bytes]) -> None:
    length = g_y_length(get_suite(DEFAULT_SUITE))
    assert hs.decode_message_2(hs.encode_message_2(*parts), length) == parts


@FUZZ
@given(st.binary(max_size=hs.MAX_MESSAGE_SIZE - 3))
def test_message_3_and_4_round_trip(ciphertext: bytes) -> None:
    assert hs.decode_single_bstr(cbor.encode(ciphertext), "CIPHERTEXT_3") == ciphertext


@FUZZ
@given(pst.error_messages())
def test_error_message_round_trips(spec: pst.ErrorSpec) -> None:
    """REQ-HS-019: ERR_CODE 1/2/3 with their ERR_INFO types, other codes with any item."""
    decoded = hs.decode_error_message(hs.encode_error_message(spec.err_code, spec.err_info))
    assert (decoded.err_code, decoded.err_info) == (spec.err_code, spec.err_info)


@FUZZ
@given(pst.plaintext_2s())
def test_plaintext_2_round_trips(parts: tuple[bytes, dict, bytes, tuple]) -> None:  # type: ignore[type-arg]
    c_r, id_cred, signature, ead = parts
    decoded = hs.decode_plaintext_2(hs.encode_plaintext_2(c_r, id_cred, signature, encode_ead(ead)))
    assert decoded == hs.Plaintext2(c_r, id_cred, signature, ead)


@FUZZ
@given(pst.connection_ids(), pst.ead_items())
def test_plaintext_2a_round_trips(c_r: bytes, ead: tuple) -> None:  # type: ignore[type-arg]
    assert hs.decode_plaintext_2a(hs.encode_plaintext_2a(c_r, encode_ead(ead))) == (c_r, ead)


@FUZZ
@given(pst.plaintext_3s())
def test_plaintext_3_round_trips(parts: tuple[dict, bytes, tuple]) -> None:  # type: ignore[type-arg]
    id_cred, signature, ead = parts
    decoded = hs.decode_plaintext_3(hs.encode_plaintext_3(id_cred, signature, encode_ead(ead)))
    assert decoded == hs.Plaintext3(id_cred, signature, ead)


@FUZZ
@given(pst.plaintext_3as())
def test_plaintext_3a_round_trips(parts: tuple[dict, bytes]) -> None:  # type: ignore[type-arg]
    assert hs.decode_plaintext_3a(hs.encode_plaintext_3a(*parts)) == hs.Plaintext3A(*parts)


@FUZZ
@given(pst.ead_items())
def test_plaintext_4_round_trips(ead: tuple) -> None:  # type: ignore[type-arg]
    assert hs.decode_plaintext_4(encode_ead(ead)) == ead


@FUZZ
@given(pst.ccs_maps())
def test_ccs_credential_keeps_its_bytes_and_fields(ccs: dict) -> None:  # type: ignore[type-arg]
    """REQ-ENC-012: CRED_x is used as received; the parsed fields come from the COSE_Key."""
    encoded = cbor.encode(ccs)
    credential = parse_ccs(encoded)
    key = ccs[8][1]
    assert credential.cred == encoded
    assert credential.subject == ccs[2]
    assert credential.kid == key[2]
    assert credential.public_key in (
        key.get(-1),
        key.get(-2),
        b"\x04" + key.get(-2, b"") + key.get(-3, b""),
    )


@FUZZ
@given(pst.oscore_options())
def test_oscore_option_round_trips(option: object) -> None:
    encoded = encode_option(option)  # type: ignore[arg-type]
    decoded = decode_option(encoded)
    # "PIV absent" and "all absent" both encode to the empty value only when nothing is set.
    assert encode_option(decoded) == encoded
    if encoded:
        assert decoded == option


@FUZZ
@given(pst.records())
def test_record_header_round_trips(record: object) -> None:
    """REQ-REC-001: the header a sender writes is the header a receiver reads."""
    r = record
    encoded = encode_record(r.piv, r.kid, r.epoch, r.ciphertext)  # type: ignore[attr-defined]
    assert decode_record(encoded, min_ciphertext=17) == record


@FUZZ
@given(pst.close_bodies())
def test_close_body_round_trips(spec: tuple) -> None:  # type: ignore[type-arg]
    alert, detail = spec
    assert decode_close_body(encode_close_body(alert, detail)) == alert


@FUZZ
@given(pst.coap_messages())
def test_coap_message_round_trips(message: coap.CoapMessage) -> None:
    assert coap.decode_message(coap.encode_message(message)) == message


@FUZZ
@given(pst.tcp_payloads(), st.data())
def test_tcp_frames_round_trip_in_any_chunking(payloads: list[bytes], data: st.DataObject) -> None:
    """REQ-TCP-001: frames come out whole and in order however the stream is cut."""
    stream = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    received: list[bytes] = []
    for chunk in data.draw(pst.payload_chunks(stream)):
        received += decoder.feed(chunk)
    decoder.check_eof()
    assert received == payloads


@FUZZ
@given(st.binary(max_size=2000))
def test_cobs_round_trips_without_zero_bytes(data: bytes) -> None:
    encoded = cobs.encode(data)
    assert 0 not in encoded
    assert len(encoded) <= cobs.max_encoded_length(len(data))
    assert cobs.decode(encoded) == data


@FUZZ
@given(pst.serial_messages(), st.data())
def test_serial_message_round_trips_in_any_chunking(
    spec: pst.SerialMessage, data: st.DataObject
) -> None:
    """REQ-SER-001/004: fragments, CRC and COBS; the receiver reassembles the message."""
    from pqiot.reference.framing import serial_frames

    wire = serial_frames.encode_message(spec.channel, spec.msg_id, spec.message, spec.mtu)
    receiver = serial_frames.SerialReceiver(spec.mtu)
    out: list[tuple[int, bytes]] = []
    for chunk in data.draw(pst.payload_chunks(wire)):
        out += receiver.feed(chunk, 0.0)
    assert out == [(spec.channel, spec.message)]
    for frame in wire.split(b"\x00")[:-1]:
        raw = cobs.decode(frame)
        assert int.from_bytes(raw[-4:], "little") == zlib.crc32(raw[:-4])


@fuzz_settings(scale=0.3)
@given(pst.pubsub_specs(int(material.PUBSUB_NOW * 1000)))
def test_signed_pubsub_message_verifies_with_its_content(spec: pst.PubSubSpec) -> None:
    """D5: what a publisher signs (optionally encrypts) a subscriber verifies and reads back."""
    from pqiot.reference.crypto.rng import ShakeRng
    from pqiot.reference.software_provider import SoftwareSecurityProvider

    publisher = material.parties().initiator
    provider = SoftwareSecurityProvider()
    group = GroupKey(b"\x67", bytes(32)) if spec.encrypted else None
    message = sign_message(
        provider,
        publisher.install(provider),
        publisher.kid,
        material.PUBSUB_TOPIC,
        spec.seq,
        spec.timestamp_ms,
        spec.content,
        group,
        rng=ShakeRng(b"iv"),
    )
    store = KeyStore()
    store.add(publisher.credential)
    verifier = MessageVerifier(store, group_keys={b"\x67": bytes(32)} if spec.encrypted else None)
    verified = verifier.verify(message, material.PUBSUB_TOPIC, material.PUBSUB_NOW)
    assert (verified.seq, verified.timestamp_ms, verified.content) == (
        spec.seq,
        spec.timestamp_ms,
        spec.content,
    )
