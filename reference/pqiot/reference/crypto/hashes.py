"""EDHOC hash algorithms with their Extract/Expand pair (RFC 9528 §4.1.1).

SHA-2 suites use HKDF (RFC 5869); SHAKE256 suites use KMAC256 (SP 800-185):
``EDHOC_Extract(salt, IKM) = KMAC256(salt, IKM, 512, "")`` and
``EDHOC_Expand(PRK, info, length) = KMAC256(PRK, info, 8*length, "")``.
The SHAKE256 hash length is 64 bytes: COSE alg -45 is "SHAKE-256 512-bit hash
value" (RFC 9054) and RFC 9528 fixes Extract's output at 512 bits.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes as _hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from pqiot.reference.crypto.kmac import kmac256
from pqiot.reference.errors import CryptoError

__all__ = [
    "SHA256",
    "SHA384",
    "SHAKE256",
    "Sha2Hash",
    "Shake256Hash",
    "hkdf_expand",
    "hkdf_extract",
]


_CRYPTOGRAPHY_HASHES: dict[str, type[_hashes.HashAlgorithm]] = {
    "sha256": _hashes.SHA256,
    "sha384": _hashes.SHA384,
    "sha512": _hashes.SHA512,
}


#: Digest sizes of the HKDF hashes we use, so the per-call KDF path builds no hash object.
_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def _digest_size(hash_name: str) -> int:
    size = _DIGEST_SIZES.get(hash_name)
    return size if size is not None else hashlib.new(hash_name).digest_size


def hkdf_extract(hash_name: str, salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 §2.2); an empty salt means HashLen zero bytes."""
    digest_size = _digest_size(hash_name)
    return hmac.digest(salt or b"\x00" * digest_size, ikm, hash_name)


def hkdf_expand(hash_name: str, prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869 §2.3)."""
    digest_size = _digest_size(hash_name)
    if not 0 <= length <= 255 * digest_size:
        raise CryptoError(
            f"HKDF-Expand length must be 0..{255 * digest_size} for {hash_name}, got {length}"
        )
    if len(prk) < digest_size:
        raise CryptoError(
            f"HKDF-Expand PRK must be at least {digest_size} bytes for {hash_name}, got {len(prk)}"
        )
    if length == 0:
        return b""
    if length <= digest_size:  # one block: a single HMAC is the cheapest path
        return hmac.digest(prk, info + b"\x01", hash_name)[:length]
    algorithm = _CRYPTOGRAPHY_HASHES.get(hash_name)
    if algorithm is not None:
        # One call into OpenSSL instead of a Python loop of HMAC blocks: EDHOC's
        # KEYSTREAM_2 over a PQ signature and credential is ~100 blocks.
        return HKDFExpand(algorithm(), length, info).derive(prk)
    okm = b""
    block = b""
    counter = 1
    while len(okm) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), hash_name)
        okm += block
        counter += 1
    return okm[:length]


@dataclass(frozen=True)
class Sha2Hash:
    """A SHA-2 EDHOC hash: Extract/Expand are HKDF with the same hash."""

    name: str
    cose_alg: int
    hashlib_name: str
    digest_size: int

    def hash(self, data: bytes) -> bytes:
        return hashlib.new(self.hashlib_name, data).digest()

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        return hkdf_extract(self.hashlib_name, salt, ikm)

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        return hkdf_expand(self.hashlib_name, prk, info, length)


@dataclass(frozen=True)
class Shake256Hash:
    """SHAKE256 as EDHOC hash: H = SHAKE256 with ``digest_size`` bytes, KMAC256 for the KDF."""

    name: str = "SHAKE256"
    cose_alg: int = -45
    digest_size: int = 64

    def hash(self, data: bytes) -> bytes:
        return hashlib.shake_256(data).digest(self.digest_size)

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        return kmac256(salt, ikm, self.digest_size)

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        if length < 0:
            raise CryptoError(f"EDHOC_Expand length must be non-negative, got {length}")
        return kmac256(prk, info, length)


SHA256 = Sha2Hash("SHA-256", -16, "sha256", 32)
SHA384 = Sha2Hash("SHA-384", -43, "sha384", 48)
SHAKE256 = Shake256Hash()
