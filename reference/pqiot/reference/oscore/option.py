"""The OSCORE option value: flag byte, Partial IV, kid context, kid (RFC 8613 §6.1).

This is the compressed COSE header of every protected message, on CoAP and
(inside the record header) on the other bindings, so the decoder is strict:
reserved flag bits and Partial IV lengths 6/7 are malformed, and any input
either decodes or raises :class:`DecodeError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pqiot.reference.errors import DecodeError

__all__ = ["OscoreOption", "decode_option", "encode_option"]

_FLAG_KID_CONTEXT = 0x10
_FLAG_KID = 0x08
_MASK_PIV_LENGTH = 0x07
_MASK_RESERVED = 0xE0


@dataclass(frozen=True)
class OscoreOption:
    """Decoded option value; ``None`` means "field absent" (distinct from empty bytes)."""

    piv: bytes | None = None
    kid_context: bytes | None = None
    kid: bytes | None = None


def encode_option(option: OscoreOption) -> bytes:
    """Encode the option value; all fields absent gives the empty value (§6.1)."""
    piv = option.piv or b""
    if len(piv) > 5:
        raise ValueError(f"Partial IV of {len(piv)} bytes; at most 5 are allowed")
    if option.piv is not None and not piv:
        raise ValueError("a present Partial IV has at least one byte (0 is encoded as 0x00)")
    flags = len(piv)
    tail = b""
    if option.kid_context is not None:
        if len(option.kid_context) > 255:
            raise ValueError("kid context longer than 255 bytes")
        flags |= _FLAG_KID_CONTEXT
        tail += bytes([len(option.kid_context)]) + option.kid_context
    if option.kid is not None:
        flags |= _FLAG_KID
        tail += option.kid
    if flags == 0:
        return b""
    return bytes([flags]) + piv + tail


def decode_option(value: bytes) -> OscoreOption:
    """Decode an option value; raise :class:`DecodeError` for anything malformed."""
    value = bytes(value)
    if not value:
        return OscoreOption()
    flags = value[0]
    if flags & _MASK_RESERVED:
        raise DecodeError(
            f"OSCORE option flag byte 0x{flags:02x} sets reserved bits (RFC 8613 §6.1)"
        )
    if flags == 0:
        raise DecodeError("OSCORE option with all flags zero must be empty (RFC 8613 §6.1)")
    piv_length = flags & _MASK_PIV_LENGTH
    if piv_length > 5:
        raise DecodeError(
            f"OSCORE option Partial IV length {piv_length} is reserved (RFC 8613 §6.1)"
        )
    pos = 1
    if len(value) < pos + piv_length:
        raise DecodeError("OSCORE option truncated inside the Partial IV")
    piv = value[pos : pos + piv_length] if piv_length else None
    pos += piv_length
    kid_context = None
    if flags & _FLAG_KID_CONTEXT:
        if len(value) < pos + 1:
            raise DecodeError("OSCORE option truncated before the kid context length")
        size = value[pos]
        pos += 1
        if len(value) < pos + size:
            raise DecodeError("OSCORE option truncated inside the kid context")
        kid_context = value[pos : pos + size]
        pos += size
    kid = None
    if flags & _FLAG_KID:
        kid = value[pos:]
    elif pos != len(value):
        raise DecodeError(f"{len(value) - pos} trailing bytes in OSCORE option without a kid")
    return OscoreOption(piv=piv, kid_context=kid_context, kid=kid)
