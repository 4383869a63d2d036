"""Falcon-512/1024 (round-3 specification, padded signatures) as a ``SignatureScheme``.

Experimental code points -65601 / -65602 (design decision D2); FN-DSA (FIPS 206)
is not final, so this is Falcon exactly as submitted in round 3.

Encodings (round-3 spec §3.11), written here, not taken from the package:

* public key: byte ``0x00 + logn``, then h as 14-bit big-endian coefficients
  (897 / 1793 bytes);
* private key: byte ``0x50 + logn``, then f and g (6 bits per coefficient for
  logn 9, 5 for logn 10) and F (8 bits), two's complement, big-endian bit
  order; G is recomputed from fG - gF = q (1281 / 2305 bytes);
* signature (padded format): byte ``0x30 + logn``, 40-byte salt r, compressed
  s2, zero padding to 666 / 1280 bytes. The ``falcon-digital-signature``
  package (import name ``falcon``) already emits exactly this format.

Signing, the Gaussian sampler, key generation arithmetic (NTRUSolve) and NTT
multiplication come from the ``falcon`` package; verification (length, header,
strict decompression incl. zero padding, hash-to-point, norm bound) is done
here, so a malformed signature can only ever make :meth:`Falcon.verify` return
False. Signing and key generation draw all randomness from the ``rng``
argument (the package accepts a ``randombytes`` callable), so both are
deterministic for a deterministic rng. ``rng=None`` signs with the system
RNG: round-3 Falcon has no deterministic signing variant. Key generation is
*not* bit-compatible with the reference C implementation's keygen (different
sampler plumbing), so keys made from the same seed differ from C's.

Known answers for Falcon come from the package itself: ``falcon.scripts.sign_KAT``
holds the signatures produced by the round-3 reference C implementation
(``test_falcon.c``, padded format, message ``b"data1"``, randomness from
SHAKE256(``b"external"``)) for given (f, g, F, G). The tests verify those
signatures with this module's verifier and reproduce them byte for byte with
its signer; no KAT data is copied into this repository.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from pqiot.reference.crypto.interfaces import Rng
from pqiot.reference.errors import CryptoError

__all__ = [
    "FALCON512",
    "FALCON1024",
    "Falcon",
    "FalconParameters",
    "compress_signature_polynomial",
    "decompress_signature_polynomial",
]

Q = 12289
SALT_SIZE = 40
_SIGNATURE_HEADER = 0x30
_PRIVATE_KEY_HEADER = 0x50
_PUBLIC_KEY_HEADER = 0x00
_HASH_REJECTION_BOUND = 5 * Q  # 16-bit samples >= 61445 are rejected (round-3 HashToPoint)
_MAX_SIGNATURE_COEFFICIENT = 2047  # |s2_i| < 2^11 is all the compressed format can hold


@dataclass(frozen=True)
class FalconParameters:
    """One round-3 Falcon parameter set."""

    name: str
    cose_alg: int
    logn: int
    signature_size: int
    signature_bound: int  # floor(beta^2), round-3 spec Table 3.3
    fg_bits: int

    @property
    def n(self) -> int:
        return 1 << self.logn

    @property
    def public_key_size(self) -> int:
        return 1 + (14 * self.n) // 8

    @property
    def private_key_size(self) -> int:
        return 1 + (2 * self.fg_bits * self.n + 8 * self.n) // 8


# -- bit packing ------------------------------------------------------------


def _pack_bits(values: list[int], bits: int) -> bytes:
    """Big-endian bit packing of unsigned ``bits``-bit values (length a multiple of 8 bits)."""
    acc = 0
    for value in values:
        acc = (acc << bits) | value
    return acc.to_bytes(len(values) * bits // 8, "big")


def _unpack_bits(data: bytes, bits: int, count: int) -> list[int]:
    acc = int.from_bytes(data, "big")
    mask = (1 << bits) - 1
    return [(acc >> (bits * (count - 1 - i))) & mask for i in range(count)]


def _encode_signed(values: list[int], bits: int, what: str) -> bytes:
    limit = (1 << (bits - 1)) - 1
    if any(not -limit <= v <= limit for v in values):
        raise CryptoError(f"Falcon {what} coefficient out of range for {bits}-bit encoding")
    return _pack_bits([v & ((1 << bits) - 1) for v in values], bits)


def _decode_signed(data: bytes, bits: int, count: int, what: str) -> list[int]:
    half = 1 << (bits - 1)
    raw = _unpack_bits(data, bits, count)
    if any(v == half for v in raw):  # -2^(bits-1) is a forbidden encoding
        raise CryptoError(f"Falcon private key has a forbidden {what} coefficient encoding")
    return [v - (1 << bits) if v & half else v for v in raw]


# -- signature polynomial compression (round-3 spec §3.11.2) ----------------


def compress_signature_polynomial(s2: list[int], size: int) -> bytes | None:
    """Compress s2 into exactly ``size`` bytes (zero padded); None when it does not fit."""
    acc = 0
    nbits = 0
    for coef in s2:
        magnitude = abs(coef)
        if magnitude > _MAX_SIGNATURE_COEFFICIENT:
            return None
        high = magnitude >> 7
        # sign bit, 7 low bits, `high` zeros, a terminating one
        word = ((1 if coef < 0 else 0) << 7 | (magnitude & 0x7F)) << (high + 1) | 1
        acc = (acc << (8 + high + 1)) | word
        nbits += 8 + high + 1
    if nbits > 8 * size:
        return None
    return (acc << (8 * size - nbits)).to_bytes(size, "big")


def decompress_signature_polynomial(data: bytes, n: int) -> list[int] | None:
    """Strict inverse of :func:`compress_signature_polynomial`; None for any non-canonical input.

    Rejects "-0", coefficients above 2047, running out of bits, and any
    non-zero bit after the n-th coefficient (padding must be zero).
    """
    total = 8 * len(data)
    acc = int.from_bytes(data, "big")
    pos = 0  # bits consumed from the most significant end

    def read(count: int) -> int:
        nonlocal pos
        value = (acc >> (total - pos - count)) & ((1 << count) - 1)
        pos += count
        return value

    out: list[int] = []
    for _ in range(n):
        if pos + 8 > total:
            return None
        head = read(8)
        negative, low = head >> 7, head & 0x7F
        high = 0
        while True:
            if pos >= total:
                return None
            if read(1):
                break
            high += 1
            if high > _MAX_SIGNATURE_COEFFICIENT >> 7:
                return None
        magnitude = (high << 7) | low
        if negative and magnitude == 0:
            return None
        out.append(-magnitude if negative else magnitude)
    if total - pos and acc & ((1 << (total - pos)) - 1):
        return None
    return out


def hash_to_point(salt: bytes, message: bytes, n: int) -> list[int]:
    """Round-3 HashToPoint: SHAKE256(r || m), 16-bit big-endian samples < 5q, reduced mod q."""
    out: list[int] = []
    length = 4 * n
    while len(out) < n:
        stream = hashlib.shake_256(salt + message).digest(length)
        out = []
        for i in range(0, length, 2):
            sample = (stream[i] << 8) | stream[i + 1]
            if sample < _HASH_REJECTION_BOUND:
                out.append(sample % Q)
                if len(out) == n:
                    break
        length *= 2
    return out


class Falcon:
    """One Falcon parameter set; keys and signatures in their round-3 byte encodings."""

    def __init__(self, params: FalconParameters) -> None:
        self.params = params
        self.name = params.name
        self.cose_alg = params.cose_alg
        self.public_key_size = params.public_key_size
        self.private_key_size = params.private_key_size
        self.signature_size = params.signature_size

    def __repr__(self) -> str:
        return f"Falcon({self.name})"

    # -- encodings ------------------------------------------------------------
    def encode_public_key(self, h: list[int]) -> bytes:
        if len(h) != self.params.n or any(not 0 <= c < Q for c in h):
            raise CryptoError(
                f"{self.name} public polynomial must have {self.params.n} coefficients in [0, q)"
            )
        return bytes([_PUBLIC_KEY_HEADER + self.params.logn]) + _pack_bits(h, 14)

    def decode_public_key(self, public_key: bytes) -> list[int]:
        if len(public_key) != self.public_key_size:
            raise CryptoError(
                f"{self.name} public key must be {self.public_key_size} bytes, "
                f"got {len(public_key)}"
            )
        if public_key[0] != _PUBLIC_KEY_HEADER + self.params.logn:
            raise CryptoError(f"{self.name} public key header must be 0x{self.params.logn:02x}")
        h = _unpack_bits(public_key[1:], 14, self.params.n)
        if any(c >= Q for c in h):
            raise CryptoError(f"{self.name} public key has a coefficient >= q")
        return h

    def encode_private_key(self, f: list[int], g: list[int], big_f: list[int]) -> bytes:
        n, bits = self.params.n, self.params.fg_bits
        if not len(f) == len(g) == len(big_f) == n:
            raise CryptoError(f"{self.name} private polynomials must have {n} coefficients")
        return (
            bytes([_PRIVATE_KEY_HEADER + self.params.logn])
            + _encode_signed(f, bits, "f")
            + _encode_signed(g, bits, "g")
            + _encode_signed(big_f, 8, "F")
        )

    def decode_private_key(
        self, private_key: bytes
    ) -> tuple[list[int], list[int], list[int], list[int]]:
        """Return (f, g, F, G), recomputing G = g*F/f mod q and checking it fits 8 bits."""
        from falcon.ntt import div_zq, mul_zq

        n, bits = self.params.n, self.params.fg_bits
        if len(private_key) != self.private_key_size:
            raise CryptoError(
                f"{self.name} private key must be {self.private_key_size} bytes, "
                f"got {len(private_key)}"
            )
        if private_key[0] != _PRIVATE_KEY_HEADER + self.params.logn:
            raise CryptoError(
                f"{self.name} private key header must be 0x{0x50 + self.params.logn:02x}"
            )
        fg_len = n * bits // 8
        f = _decode_signed(private_key[1 : 1 + fg_len], bits, n, "f")
        g = _decode_signed(private_key[1 + fg_len : 1 + 2 * fg_len], bits, n, "g")
        big_f = _decode_signed(private_key[1 + 2 * fg_len :], 8, n, "F")
        try:
            big_g = div_zq(mul_zq(g, big_f), f)
        except ZeroDivisionError:
            raise CryptoError(f"{self.name} private key: f is not invertible mod q") from None
        big_g = [c - Q if c > Q // 2 else c for c in big_g]
        if any(abs(c) > 127 for c in big_g):
            raise CryptoError(
                f"{self.name} private key is inconsistent (recomputed G out of range)"
            )
        return f, g, big_f, big_g

    def public_key_from_private(self, private_key: bytes) -> bytes:
        from falcon.ntt import div_zq

        f, g, _, _ = self.decode_private_key(private_key)
        return self.encode_public_key(div_zq(g, f))

    # -- SignatureScheme --------------------------------------------------------
    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        """NTRUGen (round-3 Algorithm 5) with every random byte drawn from ``rng``."""
        from falcon.ntrugen import gs_norm, ntru_solve
        from falcon.ntt import div_zq, ntt

        n = self.params.n
        while True:
            f = _gaussian_polynomial(n, rng)
            g = _gaussian_polynomial(n, rng)
            if gs_norm(f, g, Q) > (1.17**2) * Q:
                continue
            if any(c == 0 for c in ntt(f)):
                continue
            try:
                big_f, _ = ntru_solve(f, g)
            except ValueError:
                continue
            big_f = [int(c) for c in big_f]
            try:
                private_key = self.encode_private_key(f, g, big_f)
            except CryptoError:
                continue  # F outside the 8-bit range of the encoding: draw again
            return self.encode_public_key(div_zq(g, f)), private_key

    def sign(self, private_key: bytes, message: bytes, rng: Rng | None = None) -> bytes:
        """Padded Falcon signature; salt and sampler seeds from ``rng`` (system RNG if None)."""
        from falcon.falcon import SecretKey

        f, g, big_f, big_g = self.decode_private_key(private_key)
        secret: Any = SecretKey(self.params.n, [f, g, big_f, big_g])
        randombytes = rng if rng is not None else _system_randombytes
        signature = bytes(secret.sign(bytes(message), randombytes=randombytes))
        if (
            len(signature) != self.signature_size
            or signature[0] != _SIGNATURE_HEADER + self.params.logn
        ):
            raise CryptoError(f"{self.name} backend produced a non-standard signature encoding")
        return signature

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """Round-3 Verify over the padded encoding; every malformed input yields False."""
        from falcon.ntt import mul_zq

        params = self.params
        if (
            len(signature) != params.signature_size
            or signature[0] != _SIGNATURE_HEADER + params.logn
        ):
            return False
        try:
            h = self.decode_public_key(public_key)
        except CryptoError:
            return False
        s2 = decompress_signature_polynomial(signature[1 + SALT_SIZE :], params.n)
        if s2 is None:
            return False
        c = hash_to_point(signature[1 : 1 + SALT_SIZE], bytes(message), params.n)
        s2h = mul_zq([x % Q for x in s2], h)
        s1 = [(ci - pi) % Q for ci, pi in zip(c, s2h, strict=True)]
        s1 = [x - Q if x > Q // 2 else x for x in s1]
        norm = sum(int(x) * int(x) for x in s1) + sum(x * x for x in s2)
        return norm <= params.signature_bound


def _system_randombytes(n: int) -> bytes:
    # A distinct function object: the package treats ``os.urandom`` itself specially.
    return os.urandom(n)


def _gaussian_polynomial(n: int, rng: Rng) -> list[int]:
    """f or g of NTRUGen: sums of 4096/n samples of D_{Z, 0, 1.17*sqrt(q/8192)}."""
    from falcon.samplerz import samplerz

    sigma = 1.17 * (Q / 8192) ** 0.5
    samples = [samplerz(0, sigma, sigma - 0.001, randombytes=rng) for _ in range(4096)]
    k = 4096 // n
    return [sum(samples[i * k : (i + 1) * k]) for i in range(n)]


FALCON512 = Falcon(FalconParameters("Falcon-512", -65601, 9, 666, 34034726, 6))
FALCON1024 = Falcon(FalconParameters("Falcon-1024", -65602, 10, 1280, 70265242, 5))
