"""COBS byte stuffing (Cheshire & Baker), the serial binding's frame encoding (spec §12.1.1).

COBS removes every ``00`` from a frame so that a single ``00`` can delimit frames on the
wire; a receiver that lost sync finds the next frame at the next ``00``. The encoder ends a
block after 254 non-zero bytes with code ``FF`` (no implied zero) and only opens a new
block when more input follows, so 254 non-zero bytes encode as ``FF`` plus the data (the
minimal form; the C firmware does the same).
"""

from __future__ import annotations

from pqiot.reference.errors import DecodeError

__all__ = ["decode", "encode", "max_encoded_length"]

_MAX_BLOCK = 0xFF


def max_encoded_length(length: int) -> int:
    """Worst-case size of ``length`` encoded bytes, without the ``00`` delimiter."""
    return length + length // 254 + 1


def encode(data: bytes) -> bytes:
    """Encode ``data``; the result contains no ``00`` byte (the delimiter is not appended)."""
    out = bytearray([0])
    code_index = 0
    code = 1
    for position, byte in enumerate(data):
        if byte == 0:
            out[code_index] = code
            code_index = len(out)
            out.append(0)
            code = 1
            continue
        out.append(byte)
        code += 1
        if code == _MAX_BLOCK and position + 1 < len(data):
            out[code_index] = code
            code_index = len(out)
            out.append(0)
            code = 1
    out[code_index] = code
    return bytes(out)


def decode(encoded: bytes) -> bytes:
    """Decode one frame (without its delimiter); raise :class:`DecodeError` if it is malformed."""
    if not encoded:
        raise DecodeError("empty COBS frame")
    out = bytearray()
    index = 0
    while index < len(encoded):
        code = encoded[index]
        index += 1
        if code == 0:
            raise DecodeError(f"COBS frame contains a 00 byte at offset {index - 1}")
        end = index + code - 1
        if end > len(encoded):
            raise DecodeError(
                f"COBS block at offset {index - 1} announces {code - 1} bytes, "
                f"{len(encoded) - index} remain"
            )
        block = encoded[index:end]
        if 0 in block:
            raise DecodeError(f"COBS frame contains a 00 byte at offset {index + block.index(0)}")
        out += block
        index = end
        if code != _MAX_BLOCK and index < len(encoded):
            out.append(0)
    return bytes(out)
