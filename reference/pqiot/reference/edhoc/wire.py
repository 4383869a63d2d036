"""Small wire-level pieces shared by the EDHOC messages (RFC 9528 §3.3, §3.5.3.2, §3.8).

* Connection identifiers are byte strings; a one-byte identifier that is the
  encoding of a CBOR int in -24..23 travels as that int (RFC 9528 §3.3.2).
* ID_CRED_x = {4: kid} travels compactly in PLAINTEXT_2/3 as the kid alone,
  again as an int when the kid is such a byte (RFC 9528 §3.5.3.2).
* EAD items are (label, ? value) pairs; a negative label marks a critical item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.cose import HEADER_KID
from pqiot.reference.errors import DecodeError

__all__ = [
    "EadItem",
    "decode_connection_id",
    "decode_ead",
    "decode_id_cred",
    "encode_connection_id",
    "encode_ead",
    "encode_id_cred_compact",
]

#: A COSE header map (ID_CRED_x); decoding guarantees integer labels.
IdCred = dict[CborValue, CborValue]


def _is_one_byte_int(raw: bytes) -> bool:
    """True when ``raw`` is exactly the one-byte CBOR encoding of an int in -24..23."""
    return len(raw) == 1 and (raw[0] <= 0x17 or 0x20 <= raw[0] <= 0x37)


def encode_connection_id(cid: bytes) -> bytes:
    """CBOR encoding of C_I / C_R (RFC 9528 §3.3.2)."""
    return bytes(cid) if _is_one_byte_int(cid) else cbor.encode(bytes(cid))


def decode_connection_id(value: CborValue, what: str) -> bytes:
    """The raw identifier behind a decoded C_I / C_R item: ``bstr / -24..23``."""
    if isinstance(value, bool):
        raise DecodeError(f"{what} must be a byte string or an int in -24..23")
    if isinstance(value, int):
        if not -24 <= value <= 23:
            raise DecodeError(f"{what} int {value} is outside -24..23")
        return cbor.encode(value)
    if isinstance(value, bytes):
        if _is_one_byte_int(value):
            raise DecodeError(
                f"{what} h'{value.hex()}' must be encoded as a CBOR int (RFC 9528 §3.3.2)"
            )
        return value
    raise DecodeError(f"{what} must be a byte string or an int in -24..23")


def encode_id_cred_compact(id_cred: IdCred) -> bytes:
    """ID_CRED_x as in PLAINTEXT_2/3/3A: {4: kid} shrinks to the kid (RFC 9528 §3.5.3.2)."""
    kid = id_cred.get(HEADER_KID)
    if len(id_cred) == 1 and isinstance(kid, bytes):
        return kid if _is_one_byte_int(kid) else cbor.encode(kid)
    return cbor.encode(id_cred)


def decode_id_cred(value: CborValue, what: str) -> IdCred:
    """Expand a compact ID_CRED_x back to its header map."""
    if isinstance(value, bool):
        raise DecodeError(f"{what} must be a map, a byte string or an int in -24..23")
    if isinstance(value, int):
        if not -24 <= value <= 23:
            raise DecodeError(f"{what} int {value} is outside -24..23")
        return {HEADER_KID: cbor.encode(value)}
    if isinstance(value, bytes):
        if _is_one_byte_int(value):
            raise DecodeError(
                f"{what} kid h'{value.hex()}' must be sent as a CBOR int (RFC 9528 §3.5.3.2)"
            )
        return {HEADER_KID: value}
    if isinstance(value, dict):
        if not value:
            raise DecodeError(f"{what} header map is empty")
        result: IdCred = {}
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, int):
                raise DecodeError(f"{what} header labels must be integers")
            result[key] = item
        return result
    raise DecodeError(f"{what} must be a map, a byte string or an int in -24..23")


@dataclass(frozen=True)
class EadItem:
    """One External Authorization Data item (RFC 9528 §3.8)."""

    label: int
    value: bytes | None = None

    @property
    def critical(self) -> bool:
        return self.label < 0


def encode_ead(items: Sequence[EadItem]) -> bytes:
    """EAD_x as a CBOR sequence (empty when there are no items)."""
    out = b""
    for item in items:
        out += cbor.encode(item.label)
        if item.value is not None:
            out += cbor.encode(item.value)
    return out


def decode_ead(decoder: cbor.Decoder, what: str) -> tuple[EadItem, ...]:
    """Read EAD items until the end of ``decoder``: (int label, ? bstr value)*."""
    items: list[EadItem] = []
    while not decoder.at_end():
        label = decoder.read_int(f"{what} label")
        value: bytes | None = None
        if not decoder.at_end() and decoder.peek_major() == 2:
            value = decoder.read_bytes(f"{what} value")
        items.append(EadItem(label, value))
    return tuple(items)
