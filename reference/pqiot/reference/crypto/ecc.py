"""Classical curves for the check-only EDHOC suites 0 and 2 (RFC 9528 §3.6).

* X25519 / P-256 as :class:`~.interfaces.DiffieHellman`. EDHOC carries only the
  x-coordinate of a P-256 key (RFC 9528 §3.7, compact representation of
  RFC 6090): the peer's point is rebuilt with the even-y convention (SEC1
  prefix 0x02). That choice cannot change the result, because the ECDH output
  is the x-coordinate and x(d*P) == x(d*(-P)).
* EdDSA/Ed25519 (COSE -8) and ES256 (COSE -7) as :class:`~.interfaces.SignatureScheme`.
  Ed25519 is deterministic by construction, so ``rng`` is ignored. ES256 with
  ``rng=None`` uses deterministic ECDSA (RFC 6979); with an ``rng`` it uses
  OpenSSL's random nonce (``cryptography`` cannot take an external k), so ES256
  signatures are never a function of the rng stream. ES256 signatures are the
  64-byte r||s of RFC 9053 §2.1; public keys are SEC1 uncompressed points (65
  bytes), and 33-byte compressed points are accepted by ``verify``.
* :class:`DhAsKem` lets a DH group stand where the protocol expects a KEM.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from pqiot.reference.crypto.interfaces import DiffieHellman, Encapsulation, Rng
from pqiot.reference.errors import CryptoError

__all__ = [
    "ED25519",
    "ES256",
    "P256",
    "X25519",
    "DhAsKem",
    "Ed25519Signature",
    "Es256Signature",
    "P256Dh",
    "X25519Dh",
]

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_SEC1_UNCOMPRESSED = serialization.PublicFormat.UncompressedPoint
_RAW = serialization.Encoding.Raw
_X962 = serialization.Encoding.X962


def _p256_scalar(private_key: bytes) -> ec.EllipticCurvePrivateKey:
    if len(private_key) != 32:
        raise CryptoError(
            f"P-256 private key must be a 32-byte scalar, got {len(private_key)} bytes"
        )
    d = int.from_bytes(private_key, "big")
    if not 1 <= d < _P256_ORDER:
        raise CryptoError("P-256 private key scalar must be in [1, n-1]")
    return ec.derive_private_key(d, ec.SECP256R1())


def _p256_random_scalar(rng: Rng) -> bytes:
    """Rejection sampling of a scalar in [1, n-1] (FIPS 186-5 A.4.2 style)."""
    while True:
        candidate = rng(32)
        if 1 <= int.from_bytes(candidate, "big") < _P256_ORDER:
            return candidate


@dataclass(frozen=True)
class X25519Dh:
    """X25519 (RFC 7748); EDHOC key exchange id 4."""

    name: str = "X25519"
    identifier: int = 4
    public_key_size: int = 32

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        private_key = rng(32)
        return self.public_key(private_key), private_key

    def public_key(self, private_key: bytes) -> bytes:
        if len(private_key) != 32:
            raise CryptoError(f"X25519 private key must be 32 bytes, got {len(private_key)}")
        key = X25519PrivateKey.from_private_bytes(bytes(private_key))
        return key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)

    def exchange(self, private_key: bytes, peer_public_key: bytes) -> bytes:
        if len(private_key) != 32 or len(peer_public_key) != 32:
            raise CryptoError("X25519 keys must be 32 bytes each")
        key = X25519PrivateKey.from_private_bytes(bytes(private_key))
        try:
            return key.exchange(X25519PublicKey.from_public_bytes(bytes(peer_public_key)))
        except ValueError:
            raise CryptoError(
                "X25519 shared secret is all zero (peer sent a low-order point)"
            ) from None


@dataclass(frozen=True)
class P256Dh:
    """ECDH on P-256 with x-only public keys (EDHOC compact representation); id 1."""

    name: str = "P-256"
    identifier: int = 1
    public_key_size: int = 32

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        private_key = _p256_random_scalar(rng)
        return self.public_key(private_key), private_key

    def public_key(self, private_key: bytes) -> bytes:
        point = _p256_scalar(private_key).public_key().public_bytes(_X962, _SEC1_UNCOMPRESSED)
        return point[1:33]

    def exchange(self, private_key: bytes, peer_public_key: bytes) -> bytes:
        if len(peer_public_key) != 32:
            raise CryptoError(
                f"P-256 peer public key must be the 32-byte x-coordinate, "
                f"got {len(peer_public_key)} bytes"
            )
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), b"\x02" + bytes(peer_public_key)
            )
        except ValueError:
            raise CryptoError(
                "P-256 peer public key is not the x-coordinate of a curve point"
            ) from None
        return _p256_scalar(private_key).exchange(ec.ECDH(), peer)


@dataclass(frozen=True)
class Ed25519Signature:
    """EdDSA with Ed25519 (RFC 8032), COSE -8; private key = 32-byte seed."""

    name: str = "EdDSA"
    cose_alg: int = -8
    public_key_size: int = 32
    signature_size: int = 64

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        seed = rng(32)
        return self.public_key(seed), seed

    def public_key(self, private_key: bytes) -> bytes:
        if len(private_key) != 32:
            raise CryptoError(
                f"Ed25519 private key must be the 32-byte seed, got {len(private_key)}"
            )
        key = Ed25519PrivateKey.from_private_bytes(bytes(private_key))
        return key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)

    def sign(self, private_key: bytes, message: bytes, rng: Rng | None = None) -> bytes:
        if len(private_key) != 32:
            raise CryptoError(
                f"Ed25519 private key must be the 32-byte seed, got {len(private_key)}"
            )
        return Ed25519PrivateKey.from_private_bytes(bytes(private_key)).sign(bytes(message))

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_key) != 32 or len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(
                bytes(signature), bytes(message)
            )
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Es256Signature:
    """ECDSA P-256 with SHA-256, COSE -7; private key = 32-byte scalar, signature = r||s."""

    name: str = "ES256"
    cose_alg: int = -7
    public_key_size: int = 65
    signature_size: int = 64

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        private_key = _p256_random_scalar(rng)
        return self.public_key(private_key), private_key

    def public_key(self, private_key: bytes) -> bytes:
        return _p256_scalar(private_key).public_key().public_bytes(_X962, _SEC1_UNCOMPRESSED)

    def sign(self, private_key: bytes, message: bytes, rng: Rng | None = None) -> bytes:
        algorithm = ec.ECDSA(hashes.SHA256(), deterministic_signing=rng is None)
        der = _p256_scalar(private_key).sign(bytes(message), algorithm)
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64 or len(public_key) not in (33, 65):
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        if not (0 < r < _P256_ORDER and 0 < s < _P256_ORDER):
            return False
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(public_key))
            key.verify(encode_dss_signature(r, s), bytes(message), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


class DhAsKem:
    """A DH group seen as a KEM: ek = G_X, ciphertext = G_Y (responder ephemeral), shared = DH.

    This is how classical EDHOC maps onto the KEM-shaped handshake code.
    """

    def __init__(self, dh: DiffieHellman) -> None:
        self.dh = dh
        self.name = dh.name
        self.identifier = dh.identifier
        self.encapsulation_key_size = dh.public_key_size
        self.ciphertext_size = dh.public_key_size
        self.shared_secret_size = 32

    def __repr__(self) -> str:
        return f"DhAsKem({self.name})"

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        return self.dh.generate(rng)

    def encapsulate(self, encapsulation_key: bytes, rng: Rng) -> Encapsulation:
        ephemeral_public, ephemeral_private = self.dh.generate(rng)
        shared = self.dh.exchange(ephemeral_private, encapsulation_key)
        return Encapsulation(ciphertext=ephemeral_public, shared_secret=shared)

    def decapsulate(self, decapsulation_key: bytes, ciphertext: bytes) -> bytes:
        return self.dh.exchange(decapsulation_key, ciphertext)


X25519 = X25519Dh()
P256 = P256Dh()
ED25519 = Ed25519Signature()
ES256 = Es256Signature()
