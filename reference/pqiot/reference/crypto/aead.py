"""AEAD algorithms by COSE id, all backed by ``cryptography``.

Length checks happen here (not in the backend) so that every misuse raises
:class:`CryptoError` with the expected size, and every failed authentication
raises exactly :class:`InvalidTag`, whatever the backend's own exception is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag as _BackendInvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from pqiot.reference.errors import CryptoError, InvalidTag

__all__ = [
    "A128GCM",
    "A256GCM",
    "AES_CCM_16_64_128",
    "AES_CCM_16_128_128",
    "CHACHA20_POLY1305",
    "CryptographyAead",
]


class _BackendCipher(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


@dataclass(frozen=True)
class CryptographyAead:
    """One AEAD with fixed key, nonce and tag sizes (COSE fixes all three)."""

    name: str
    cose_alg: int
    key_size: int
    nonce_size: int
    tag_size: int
    factory: Callable[[bytes, int], _BackendCipher]

    def _cipher(self, key: bytes, nonce: bytes) -> _BackendCipher:
        if len(key) != self.key_size:
            raise CryptoError(f"{self.name} needs a {self.key_size}-byte key, got {len(key)} bytes")
        if len(nonce) != self.nonce_size:
            raise CryptoError(
                f"{self.name} needs a {self.nonce_size}-byte nonce, got {len(nonce)} bytes"
            )
        return self.factory(bytes(key), self.tag_size)

    def seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._cipher(key, nonce).encrypt(bytes(nonce), bytes(plaintext), bytes(aad))

    def open(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        cipher = self._cipher(key, nonce)
        if len(ciphertext) < self.tag_size:
            raise InvalidTag(f"{self.name} ciphertext shorter than its {self.tag_size}-byte tag")
        try:
            return cipher.decrypt(bytes(nonce), bytes(ciphertext), bytes(aad))
        except _BackendInvalidTag:
            raise InvalidTag(f"{self.name} authentication failed") from None


def _gcm(key: bytes, tag_size: int) -> _BackendCipher:
    return AESGCM(key)


def _ccm(key: bytes, tag_size: int) -> _BackendCipher:
    return AESCCM(key, tag_length=tag_size)


def _chacha(key: bytes, tag_size: int) -> _BackendCipher:
    return ChaCha20Poly1305(key)


A128GCM = CryptographyAead("A128GCM", 1, 16, 12, 16, _gcm)
A256GCM = CryptographyAead("A256GCM", 3, 32, 12, 16, _gcm)
AES_CCM_16_64_128 = CryptographyAead("AES-CCM-16-64-128", 10, 16, 13, 8, _ccm)
AES_CCM_16_128_128 = CryptographyAead("AES-CCM-16-128-128", 30, 16, 13, 16, _ccm)
CHACHA20_POLY1305 = CryptographyAead("ChaCha20/Poly1305", 24, 32, 12, 16, _chacha)
