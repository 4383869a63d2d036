"""Record wire format (D4): ``u8 option_len || OSCORE option value || ciphertext_with_tag``.

The option value is RFC 8613 §6.1 with Partial IV and kid always present and
the key epoch as a one-byte kid context when non-zero. Plaintext inside the
AEAD is ``content_type (u8) || body``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pqiot.reference import cbor
from pqiot.reference.errors import Alert, DecodeError
from pqiot.reference.oscore.option import OscoreOption, decode_option, encode_option

__all__ = [
    "DEFAULT_MAX_RECORD_SIZE",
    "ContentType",
    "Record",
    "decode_close_body",
    "decode_record",
    "encode_close_body",
    "encode_record",
]

#: MQTT payloads are capped at 64 KiB (protocol brief §1); no binding carries more.
DEFAULT_MAX_RECORD_SIZE = 64 * 1024


class ContentType(enum.IntEnum):
    """First plaintext byte of every record (D4)."""

    APPLICATION_DATA = 1
    KEY_UPDATE = 2  # body = 16-byte nonce
    KEY_UPDATE_ACK = 3  # empty body
    CLOSE = 4  # body = CBOR alert


@dataclass(frozen=True)
class Record:
    """A decoded record header and its still-encrypted payload."""

    piv: bytes
    kid: bytes
    epoch: int
    ciphertext: bytes


def encode_record(piv: bytes, kid: bytes, epoch: int, ciphertext: bytes) -> bytes:
    """Serialise a record; ``epoch`` 0 omits the kid context."""
    if not 0 <= epoch <= 0xFF:
        raise ValueError(f"key epoch {epoch} does not fit the one-byte kid context")
    option = encode_option(
        OscoreOption(piv=piv, kid_context=bytes([epoch]) if epoch else None, kid=kid)
    )
    if len(option) > 0xFF:
        raise ValueError("OSCORE option value longer than 255 bytes")
    return bytes([len(option)]) + option + ciphertext


def decode_record(
    data: bytes, *, max_size: int = DEFAULT_MAX_RECORD_SIZE, min_ciphertext: int = 1
) -> Record:
    """Parse a record; malformed, oversize or non-canonical input raises :class:`DecodeError`.

    ``min_ciphertext`` lets the caller reject records too short to hold
    the content type plus the AEAD tag before any crypto runs.
    """
    data = bytes(data)
    if len(data) > max_size:
        raise DecodeError(f"record of {len(data)} bytes exceeds the {max_size}-byte limit")
    if not data:
        raise DecodeError("empty record")
    option_length = data[0]
    if len(data) < 1 + option_length:
        raise DecodeError(
            f"record truncated: option length {option_length}, {len(data) - 1} bytes follow"
        )
    option = decode_option(data[1 : 1 + option_length])
    ciphertext = data[1 + option_length :]
    if option.piv is None or option.kid is None:
        raise DecodeError("record option must carry both Partial IV and kid (D4)")
    if len(option.piv) > 1 and option.piv[0] == 0:
        raise DecodeError("record Partial IV has a leading zero byte (not minimal, RFC 8613 §6.1)")
    if option.kid_context is None:
        epoch = 0
    elif len(option.kid_context) != 1 or option.kid_context[0] == 0:
        raise DecodeError("record kid context must be one non-zero epoch byte (D4)")
    else:
        epoch = option.kid_context[0]
    if len(ciphertext) < min_ciphertext:
        raise DecodeError(
            f"record ciphertext of {len(ciphertext)} bytes is shorter than {min_ciphertext}"
        )
    return Record(piv=option.piv, kid=option.kid, epoch=epoch, ciphertext=ciphertext)


#: Close bodies carry at most this many bytes of alert text (spec chapter 10 §10.1).
MAX_CLOSE_TEXT = 128


def encode_close_body(alert: Alert | None, detail: str = "") -> bytes:
    """Close body: CBOR ``null`` (orderly close) or tstr ``"<alert>[: <detail>]"`` (≤ 128 bytes)."""
    if alert is None:
        return cbor.encode(None)
    text = alert.value + (f": {detail}" if detail else "")
    raw = text.encode("utf-8")[:MAX_CLOSE_TEXT]
    return cbor.encode(raw.decode("utf-8", errors="ignore"))


def decode_close_body(body: bytes) -> Alert | None:
    """Parse a close body (spec §7.3): None = orderly; unknown names -> unspecified_error."""
    value = cbor.decode(body)
    if value is None:
        return None
    if not isinstance(value, str) or len(value.encode("utf-8")) > MAX_CLOSE_TEXT:
        raise DecodeError("close body must be CBOR null or a text string of at most 128 bytes")
    name = value.split(":", 1)[0]
    try:
        return Alert(name)
    except ValueError:
        return Alert.UNSPECIFIED_ERROR
