"""OSCORE option value (RFC 8613 §6.1) and the minimal CoAP codec (RFC 7252 §3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pqiot.reference.errors import DecodeError
from pqiot.reference.oscore import coap
from pqiot.reference.oscore.option import OscoreOption, decode_option, encode_option


@pytest.mark.parametrize(
    ("option", "encoded"),
    [  # RFC 8613 §6.3 examples 1-5
        (OscoreOption(piv=b"\x05", kid=b"\x25"), "090525"),
        (OscoreOption(piv=b"\x00", kid=b""), "0900"),
        (
            OscoreOption(piv=b"\x05", kid=b"", kid_context=bytes.fromhex("44616c656b")),
            "19050544616c656b",
        ),
        (OscoreOption(), ""),
        (OscoreOption(piv=b"\x07"), "0107"),
    ],
)
def test_option_examples_of_section_6_3(option: OscoreOption, encoded: str) -> None:
    assert encode_option(option).hex() == encoded
    assert decode_option(bytes.fromhex(encoded)) == option


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("00", "all flags zero must be the empty value"),
        ("2100", "reserved bit 0x20"),
        ("4100", "reserved bit 0x40"),
        ("8100", "reserved extension bit 0x80"),
        ("06000000000000", "PIV length 6 reserved"),
        ("07", "PIV length 7 reserved"),
        ("0301", "truncated Partial IV"),
        ("1105", "kid context flag without length"),
        ("110503aabb", "kid context shorter than its length"),
        ("0105ff", "trailing bytes without kid flag"),
    ],
)
def test_option_decoder_rejects_malformed_values(value: str, why: str) -> None:
    with pytest.raises(DecodeError):
        decode_option(bytes.fromhex(value))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_option_decoder_raises_only_decode_error(data: bytes) -> None:
    """Fuzz: any byte string decodes (and re-encodes identically) or raises DecodeError."""
    try:
        option = decode_option(data)
    except DecodeError:
        return
    assert encode_option(option) == data


def test_coap_extended_option_forms_round_trip() -> None:
    """RFC 7252 §3.1: deltas/lengths 0-12 inline, 13-268 with one extra byte, >= 269 with two."""
    options = (
        (1, b""),
        (13, b"a" * 13),
        (282, b"b" * 268),
        (2000, b"c" * 269),
        (2000, b"d" * 1000),
    )
    message = coap.CoapMessage(coap.MessageType.NON, 0x02, 0xBEEF, b"\x01\x02", options, b"body")
    wire = coap.encode_message(message)
    assert wire[:6] == bytes.fromhex("5202beef0102")
    assert wire[6] == 0x10  # Option 1: delta 1, length 0
    assert wire[7:9] == bytes([0xCD, 0x00])  # Option 13: delta 12 inline, length 13 -> (13, ext 0)
    assert coap.decode_message(wire) == message


@pytest.mark.parametrize(
    ("hexdata", "why"),
    [
        ("400100", "shorter than header"),
        ("80010000", "version 2"),
        ("49010000" + "00" * 9, "token length 9 reserved"),
        ("42010000aa", "truncated token"),
        ("40010000ff", "payload marker with empty payload"),
        ("40010000f0", "delta nibble 15 without marker"),
        ("400100000f", "length nibble 15"),
        ("40010000d1", "truncated delta extension"),
        ("4001000013aa", "truncated option value"),
        ("40000000ff00", "empty message with payload"),
        ("40010000e0ffff", "option number beyond 65535"),
    ],
)
def test_coap_decoder_rejects_malformed_messages(hexdata: str, why: str) -> None:
    with pytest.raises(DecodeError):
        coap.decode_message(bytes.fromhex(hexdata))


def test_coap_size_limits() -> None:
    """REQ-COAP-010: payloads above 16384 bytes are neither sent nor accepted."""
    message = coap.encode_message(
        coap.CoapMessage(coap.MessageType.CON, 0x02, 1, b"", (), b"x" * 100)
    )
    with pytest.raises(DecodeError):
        coap.decode_message(message, max_size=100)
    largest = coap.CoapMessage(coap.MessageType.CON, 0x02, 1, b"", (), b"x" * 16384)
    assert coap.decode_message(coap.encode_message(largest)) == largest
    with pytest.raises(ValueError, match="REQ-COAP-010"):
        coap.encode_message(coap.CoapMessage(coap.MessageType.CON, 0x02, 1, b"", (), b"x" * 16385))
    with pytest.raises(DecodeError):
        coap.decode_message(bytes.fromhex("40020001ff") + b"x" * 16385)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_coap_decoder_raises_only_decode_error(data: bytes) -> None:
    try:
        message = coap.decode_message(data)
    except DecodeError:
        return
    assert coap.decode_message(coap.encode_message(message)) == message
