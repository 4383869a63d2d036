"""cSHAKE256 and KMAC256 (NIST SP 800-185) on a small pure-Python Keccak-f[1600].

EDHOC suites with SHAKE256 use KMAC256 for EDHOC_Extract/Expand (RFC 9528
§4.1.1); ``hashlib`` offers SHAKE but not cSHAKE, so the sponge is written out
here. Speed is irrelevant (a handful of calls per handshake); clarity is not.
"""

from __future__ import annotations

__all__ = ["cshake256", "keccak_f1600", "kmac256", "shake256"]

_MASK = (1 << 64) - 1

_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip

# Rotation offsets r[x][y] of the rho step (FIPS 202 §3.2.2), lane index x + 5*y.
_ROTATIONS = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)

_RATE_256 = 136  # bytes: 1600 - 2*256 bits of capacity


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def keccak_f1600(lanes: list[int]) -> None:
    """Permute the 25-lane state in place (lane index ``x + 5*y``)."""
    for rc in _ROUND_CONSTANTS:
        # theta
        c = [
            lanes[x] ^ lanes[x + 5] ^ lanes[x + 10] ^ lanes[x + 15] ^ lanes[x + 20]
            for x in range(5)
        ]
        d = [c[(x - 1) % 5] ^ _rotl(c[(x + 1) % 5], 1) for x in range(5)]
        for i in range(25):
            lanes[i] ^= d[i % 5]
        # rho and pi: B[y, 2x+3y] = rot(A[x, y], r[x, y])
        b = [0] * 25
        for x in range(5):
            for y in range(5):
                b[y + 5 * ((2 * x + 3 * y) % 5)] = _rotl(lanes[x + 5 * y], _ROTATIONS[x][y])
        # chi
        for y in range(5):
            row = b[5 * y : 5 * y + 5]
            for x in range(5):
                lanes[x + 5 * y] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5])
        # iota
        lanes[0] ^= rc


def _sponge(rate: int, data: bytes, suffix: int, out_len: int) -> bytes:
    """Keccak sponge with the given domain-separation suffix bits and pad10*1."""
    lanes = [0] * 25
    padded = bytearray(data)
    padded.append(suffix)
    padded.extend(b"\x00" * (-len(padded) % rate))
    padded[-1] |= 0x80
    for start in range(0, len(padded), rate):
        block = padded[start : start + rate]
        for i in range(rate // 8):
            lanes[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        keccak_f1600(lanes)
    out = bytearray()
    while True:
        for i in range(rate // 8):
            out += lanes[i].to_bytes(8, "little")
        if len(out) >= out_len:
            return bytes(out[:out_len])
        keccak_f1600(lanes)


def left_encode(value: int) -> bytes:
    """SP 800-185 §2.3.1 left_encode."""
    body = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return bytes([len(body)]) + body


def right_encode(value: int) -> bytes:
    """SP 800-185 §2.3.1 right_encode."""
    body = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return body + bytes([len(body)])


def encode_string(data: bytes) -> bytes:
    """SP 800-185 §2.3.2 encode_string (length in bits, left-encoded)."""
    return left_encode(8 * len(data)) + data


def bytepad(data: bytes, width: int) -> bytes:
    """SP 800-185 §2.3.3 bytepad."""
    out = left_encode(width) + data
    return out + b"\x00" * (-len(out) % width)


def shake256(data: bytes, out_len: int) -> bytes:
    """SHAKE256 (FIPS 202); used to self-check the sponge against ``hashlib``."""
    return _sponge(_RATE_256, data, 0x1F, out_len)


def cshake256(
    data: bytes, out_len: int, function_name: bytes = b"", customization: bytes = b""
) -> bytes:
    """cSHAKE256(X, L, N, S) of SP 800-185 §3 (``out_len`` in bytes)."""
    if not function_name and not customization:
        return shake256(data, out_len)
    prefix = bytepad(encode_string(function_name) + encode_string(customization), _RATE_256)
    return _sponge(_RATE_256, prefix + data, 0x04, out_len)


def kmac256(key: bytes, data: bytes, out_len: int, customization: bytes = b"") -> bytes:
    """KMAC256(K, X, L, S) of SP 800-185 §4 with L = 8 * ``out_len`` bits."""
    if out_len < 0:
        raise ValueError(f"KMAC output length must be non-negative, got {out_len}")
    new_x = bytepad(encode_string(key), _RATE_256) + data + right_encode(8 * out_len)
    return cshake256(new_x, out_len, b"KMAC", customization)
