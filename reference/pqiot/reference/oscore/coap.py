"""Minimal CoAP message codec (RFC 7252 §3): header, token, options, payload.

Only what OSCORE needs to protect and unprotect a message: options stay raw
``(number, value)`` pairs (no per-option value formats), and the decoder is
strict so that a fuzzer sees exactly one failure mode, :class:`DecodeError`.
The same option-list codec builds the OSCORE plaintext (RFC 8613 §5.3).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from pqiot.reference.errors import DecodeError

__all__ = [
    "MAX_MESSAGE_SIZE",
    "MAX_PAYLOAD_SIZE",
    "PAYLOAD_MARKER",
    "CoapMessage",
    "MessageType",
    "Option",
    "decode_message",
    "decode_options_and_payload",
    "encode_message",
    "encode_options",
    "encode_options_and_payload",
]

#: REQ-COAP-010: no CoAP payload above 16384 bytes, before or after OSCORE protection.
MAX_PAYLOAD_SIZE = 16 * 1024
#: Whole-message cap for the decoder: the payload limit plus room for header and options.
MAX_MESSAGE_SIZE = MAX_PAYLOAD_SIZE + 1024
PAYLOAD_MARKER = 0xFF
_MAX_OPTION_NUMBER = 0xFFFF
_MAX_OPTION_LENGTH = 0xFFFF + 269

Option = tuple[int, bytes]


class MessageType(enum.IntEnum):
    """CoAP message types (RFC 7252 §3)."""

    CON = 0
    NON = 1
    ACK = 2
    RST = 3


@dataclass(frozen=True)
class CoapMessage:
    """A CoAP message; ``options`` is kept in wire order (sorted by number, stable)."""

    mtype: MessageType
    code: int
    message_id: int
    token: bytes = b""
    options: tuple[Option, ...] = field(default_factory=tuple)
    payload: bytes = b""

    def option_values(self, number: int) -> list[bytes]:
        return [value for num, value in self.options if num == number]


def _nibble(value: int) -> tuple[int, bytes]:
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, (value - 269).to_bytes(2, "big")


def encode_options(options: Iterable[Option]) -> bytes:
    """Encode options with delta/length nibbles and extended forms (§3.1), sorted stably."""
    out = bytearray()
    previous = 0
    for number, value in sorted(options, key=lambda item: item[0]):
        if not 0 <= number <= _MAX_OPTION_NUMBER:
            raise ValueError(f"CoAP option number {number} outside 0..65535")
        if len(value) > _MAX_OPTION_LENGTH:
            raise ValueError(f"CoAP option {number} value too long ({len(value)} bytes)")
        delta_nibble, delta_ext = _nibble(number - previous)
        length_nibble, length_ext = _nibble(len(value))
        out.append((delta_nibble << 4) | length_nibble)
        out += delta_ext + length_ext + value
        previous = number
    return bytes(out)


def encode_options_and_payload(options: Iterable[Option], payload: bytes) -> bytes:
    """Options, then ``0xFF || payload`` if the payload is non-empty."""
    encoded = encode_options(options)
    return encoded + (bytes([PAYLOAD_MARKER]) + payload if payload else b"")


def _extended(data: bytes, pos: int, nibble: int, what: str) -> tuple[int, int]:
    if nibble < 13:
        return nibble, pos
    if nibble == 13:
        if pos + 1 > len(data):
            raise DecodeError(f"CoAP option {what} extension truncated")
        return data[pos] + 13, pos + 1
    if nibble == 14:
        if pos + 2 > len(data):
            raise DecodeError(f"CoAP option {what} extension truncated")
        return int.from_bytes(data[pos : pos + 2], "big") + 269, pos + 2
    raise DecodeError(f"CoAP option {what} nibble 15 is reserved (RFC 7252 §3.1)")


def decode_options_and_payload(data: bytes, pos: int = 0) -> tuple[tuple[Option, ...], bytes]:
    """Decode options from ``data[pos:]`` up to the payload marker; return (options, payload)."""
    options: list[Option] = []
    number = 0
    while pos < len(data):
        head = data[pos]
        pos += 1
        if head == PAYLOAD_MARKER:
            payload = data[pos:]
            if not payload:
                raise DecodeError("CoAP payload marker followed by an empty payload (RFC 7252 §3)")
            return tuple(options), payload
        delta, pos = _extended(data, pos, head >> 4, "delta")
        length, pos = _extended(data, pos, head & 0x0F, "length")
        number += delta
        if number > _MAX_OPTION_NUMBER:
            raise DecodeError(f"CoAP option number {number} exceeds 65535")
        if pos + length > len(data):
            raise DecodeError(f"CoAP option {number} value truncated: needs {length} bytes")
        options.append((number, data[pos : pos + length]))
        pos += length
    return tuple(options), b""


def encode_message(message: CoapMessage) -> bytes:
    """Serialise a message (version 1)."""
    if len(message.token) > 8:
        raise ValueError(f"CoAP token is at most 8 bytes, got {len(message.token)}")
    if not 0 <= message.code <= 0xFF or not 0 <= message.message_id <= 0xFFFF:
        raise ValueError("CoAP code must fit 8 bits and message ID 16 bits")
    if len(message.payload) > MAX_PAYLOAD_SIZE:
        raise ValueError(
            f"CoAP payload of {len(message.payload)} bytes exceeds {MAX_PAYLOAD_SIZE} "
            "(REQ-COAP-010); use block-wise transfer"
        )
    header = bytes([0x40 | (int(message.mtype) << 4) | len(message.token), message.code])
    header += message.message_id.to_bytes(2, "big") + message.token
    return header + encode_options_and_payload(message.options, message.payload)


def decode_message(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> CoapMessage:
    """Parse a CoAP message; any malformed or oversize input raises :class:`DecodeError`."""
    data = bytes(data)
    if len(data) > max_size:
        raise DecodeError(f"CoAP message of {len(data)} bytes exceeds the {max_size}-byte limit")
    if len(data) < 4:
        raise DecodeError(f"CoAP message of {len(data)} bytes is shorter than the 4-byte header")
    version = data[0] >> 6
    if version != 1:
        raise DecodeError(f"CoAP version {version} is not 1 (RFC 7252 §3)")
    token_length = data[0] & 0x0F
    if token_length > 8:
        raise DecodeError(f"CoAP token length {token_length} is reserved (RFC 7252 §3)")
    if len(data) < 4 + token_length:
        raise DecodeError("CoAP message truncated inside the token")
    code = data[1]
    if code == 0 and len(data) != 4:
        raise DecodeError("CoAP Empty message (0.00) must end after the Message ID (RFC 7252 §4.1)")
    options, payload = decode_options_and_payload(data, 4 + token_length)
    if len(payload) > MAX_PAYLOAD_SIZE:
        raise DecodeError(f"CoAP payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_SIZE}")
    return CoapMessage(
        mtype=MessageType((data[0] >> 4) & 0x03),
        code=code,
        message_id=int.from_bytes(data[2:4], "big"),
        token=data[4 : 4 + token_length],
        options=options,
        payload=payload,
    )
