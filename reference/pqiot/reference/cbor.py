"""Strict deterministic CBOR (RFC 8949 §4.2.1) for the PQC-IIoT profile.

Why our own codec: handshake messages are attacker-controlled and may be
parsed on a small device, so the profile is deliberately narrow (spec chapter
"Encoding"): unsigned/negative integers, byte and text strings, arrays, maps,
``false``/``true``/``null``. No floats, no indefinite lengths, no tags, no
non-minimal heads, map keys unique and in deterministic order. Anything else
raises :class:`~pqiot.reference.errors.DecodeError` — the only exception a
decoder here ever raises — and nothing is allocated before its length has been
checked against the bytes that are actually present.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TypeAlias

from pqiot.reference.errors import DecodeError

_Array: TypeAlias = "list[CborValue] | tuple[CborValue, ...]"
_Map: TypeAlias = "dict[CborValue, CborValue]"
CborValue: TypeAlias = "int | bytes | str | bool | _Array | _Map | None"

MAX_DEPTH = 16
MAX_ITEMS = 4096

_MAJOR_UINT = 0
_MAJOR_NINT = 1
_MAJOR_BSTR = 2
_MAJOR_TSTR = 3
_MAJOR_ARRAY = 4
_MAJOR_MAP = 5
_MAJOR_SIMPLE = 7

_UINT64_LIMIT = 1 << 64


#: One-byte heads (argument < 24) for every major type: the common case, no allocation.
_TINY_HEADS = tuple(tuple(bytes([(major << 5) | v]) for v in range(24)) for major in range(8))


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return _TINY_HEADS[major][value]
    if value < 0x100:
        return bytes([(major << 5) | 24, value])
    if value < 0x10000:
        return bytes([(major << 5) | 25]) + value.to_bytes(2, "big")
    if value < 0x100000000:
        return bytes([(major << 5) | 26]) + value.to_bytes(4, "big")
    if value < _UINT64_LIMIT:
        return bytes([(major << 5) | 27]) + value.to_bytes(8, "big")
    raise ValueError(f"integer {value} does not fit a CBOR head")


def encode(value: CborValue) -> bytes:
    """Encode one data item deterministically (shortest heads, sorted map keys)."""
    out = bytearray()
    _encode_into(out, value, 0)
    return bytes(out)


def encode_sequence(*values: CborValue) -> bytes:
    """Encode a CBOR sequence (RFC 8742): items concatenated, no framing."""
    out = bytearray()
    for value in values:
        _encode_into(out, value, 0)
    return bytes(out)


def _encode_into(out: bytearray, value: CborValue, depth: int) -> None:
    # Ordered by frequency: a handshake encodes a few hundred items (KDF info,
    # transcript inputs, MAC contexts), mostly byte strings and small ints.
    # type(True) is bool, so booleans never take the plain-int path.
    if depth > MAX_DEPTH:
        raise ValueError("CBOR nesting too deep to encode")
    if isinstance(value, bytes):
        out += _head(_MAJOR_BSTR, len(value))
        out += value
    elif type(value) is int:
        if value >= 0:
            out += _head(_MAJOR_UINT, value)
        else:
            out += _head(_MAJOR_NINT, -1 - value)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        out += _head(_MAJOR_TSTR, len(data))
        out += data
    elif isinstance(value, (list, tuple)):
        out += _head(_MAJOR_ARRAY, len(value))
        for item in value:
            _encode_into(out, item, depth + 1)
    elif isinstance(value, dict):
        _encode_map(out, value, depth)
    elif value is False:
        out.append(0xF4)
    elif value is True:
        out.append(0xF5)
    elif value is None:
        out.append(0xF6)
    elif isinstance(value, int):  # int subclasses such as IntEnum members
        _encode_into(out, int(value), depth)
    elif isinstance(value, (bytearray, memoryview)):
        _encode_into(out, bytes(value), depth)
    else:
        raise TypeError(f"type {type(value).__name__} is outside the PQC-IIoT CBOR profile")


def _encode_map(out: bytearray, value: _Map, depth: int) -> None:
    encoded = []
    for key, item in value.items():
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            # REQ-ENC-005: our decoders (and every conforming peer) reject such a map.
            raise TypeError(
                f"CBOR map key {key!r} ({type(key).__name__}) is outside the PQC-IIoT "
                "profile: map keys must be int or str (REQ-ENC-005)"
            )
        key_bytes = bytearray()
        _encode_into(key_bytes, key, depth + 1)
        encoded.append((bytes(key_bytes), item))
    encoded.sort(key=lambda pair: pair[0])
    for (a, _), (b, _) in itertools.pairwise(encoded):
        if a == b:
            raise ValueError("duplicate map key")
    out += _head(_MAJOR_MAP, len(encoded))
    for encoded_key, item in encoded:
        out += encoded_key
        _encode_into(out, item, depth + 1)


class Decoder:
    """Pull-style decoder over one buffer: ``read()`` returns the next item.

    EDHOC messages are CBOR *sequences*, so callers read items one by one and
    check ``at_end()`` to detect trailing garbage.
    """

    def __init__(self, data: bytes, *, max_items: int = MAX_ITEMS) -> None:
        self._data = bytes(data)
        self._pos = 0
        self._budget = max_items

    @property
    def position(self) -> int:
        return self._pos

    def at_end(self) -> bool:
        return self._pos >= len(self._data)

    def remaining(self) -> int:
        return len(self._data) - self._pos

    def read(self) -> CborValue:
        if self.at_end():
            raise DecodeError("expected a CBOR item, found end of input")
        return self._item(0)

    def read_int(self, what: str) -> int:
        value = self.read()
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(f"{what} must be a CBOR integer")
        return value

    def read_bytes(self, what: str) -> bytes:
        value = self.read()
        if not isinstance(value, bytes):
            raise DecodeError(f"{what} must be a CBOR byte string")
        return value

    def peek_major(self) -> int:
        if self.at_end():
            raise DecodeError("expected a CBOR item, found end of input")
        return self._data[self._pos] >> 5

    def _take(self, n: int) -> bytes:
        if n > len(self._data) - self._pos:
            raise DecodeError(
                f"truncated CBOR: need {n} bytes at offset {self._pos}, "
                f"{len(self._data) - self._pos} left"
            )
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def _argument(self, info: int) -> int:
        if info < 24:
            return info
        if info > 27:
            raise DecodeError(
                f"unsupported CBOR additional information {info} (indefinite length?)"
            )
        size = 1 << (info - 24)
        value = int.from_bytes(self._take(size), "big")
        minimum = 24 if size == 1 else 1 << (8 * (size // 2))
        if value < minimum:
            raise DecodeError("non-deterministic CBOR: integer head is not minimal")
        return value

    def _item(self, depth: int) -> CborValue:
        if depth > MAX_DEPTH:
            raise DecodeError("CBOR nesting deeper than the profile allows")
        self._budget -= 1
        if self._budget < 0:
            raise DecodeError("too many CBOR items")
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == _MAJOR_SIMPLE:
            return self._simple(info)
        arg = self._argument(info)
        if major == _MAJOR_UINT:
            return arg
        if major == _MAJOR_NINT:
            return -1 - arg
        if major == _MAJOR_BSTR:
            return self._take(arg)
        if major == _MAJOR_TSTR:
            raw = self._take(arg)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DecodeError("CBOR text string is not valid UTF-8") from exc
        if major == _MAJOR_ARRAY:
            if arg > self.remaining():
                raise DecodeError("CBOR array longer than the remaining input")
            return [self._item(depth + 1) for _ in range(arg)]
        if major == _MAJOR_MAP:
            return self._map(arg, depth)
        raise DecodeError("CBOR tags are outside the PQC-IIoT profile")

    def _map(self, count: int, depth: int) -> dict[CborValue, CborValue]:
        if 2 * count > self.remaining():
            raise DecodeError("CBOR map longer than the remaining input")
        result: dict[CborValue, CborValue] = {}
        previous: bytes | None = None
        for _ in range(count):
            start = self._pos
            key = self._item(depth + 1)
            key_bytes = self._data[start : self._pos]
            if isinstance(key, bool) or not isinstance(key, (int, str)):
                # REQ-ENC-005. A bool key would also collide with 1/0 in a Python dict.
                raise DecodeError("CBOR map keys must be integers or text strings (REQ-ENC-005)")
            if previous is not None and key_bytes <= previous:
                raise DecodeError("non-deterministic CBOR: map keys duplicated or out of order")
            previous = key_bytes
            result[key] = self._item(depth + 1)
        return result

    def _simple(self, info: int) -> CborValue:
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        raise DecodeError(f"CBOR simple value/float {info} is outside the PQC-IIoT profile")


def decode(data: bytes) -> CborValue:
    """Decode exactly one item; trailing bytes are an error."""
    decoder = Decoder(data)
    value = decoder.read()
    if not decoder.at_end():
        raise DecodeError(f"{decoder.remaining()} trailing bytes after CBOR item")
    return value


def decode_sequence(data: bytes, *, max_items: int = 64) -> list[CborValue]:
    """Decode a whole CBOR sequence into a list of top-level items."""
    decoder = Decoder(data)
    items: list[CborValue] = []
    while not decoder.at_end():
        if len(items) >= max_items:
            raise DecodeError(f"CBOR sequence has more than {max_items} items")
        items.append(decoder.read())
    return items


def iter_sequence(data: bytes) -> Iterator[CborValue]:
    """Yield the items of a CBOR sequence lazily (for streaming parsers)."""
    decoder = Decoder(data)
    while not decoder.at_end():
        yield decoder.read()
