"""The crypto backend boundary: what every algorithm implementation offers.

The protocol code only sees these interfaces and picks implementations from
:mod:`pqiot.reference.crypto.registry` by COSE/EDHOC identifier, so a backend
(``cryptography``, the pure-Python packages, liboqs) can be swapped without
touching protocol logic. Keys cross this boundary as ``bytes`` in their
standard encodings; randomness is always injectable so that vectors are
reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

#: A source of randomness: ``rng(n)`` returns ``n`` bytes. ``os.urandom`` in
#: production, a SHAKE stream in vector generation.
Rng = Callable[[int], bytes]


@dataclass(frozen=True)
class Encapsulation:
    """Result of a KEM encapsulation (FIPS 203 order is (K, c); named to avoid mix-ups)."""

    ciphertext: bytes
    shared_secret: bytes


class Kem(Protocol):
    """A key-encapsulation mechanism (ML-KEM, or DH seen as a KEM, or a hybrid).

    ``decapsulation_key`` is whatever ``generate`` returned as the private part:
    for ML-KEM the 64-byte seed d||z (FIPS 203 seed format); ``decapsulate``
    also accepts the expanded FIPS 203 decapsulation key.
    """

    @property
    def name(self) -> str: ...
    @property
    def identifier(self) -> int: ...
    @property
    def encapsulation_key_size(self) -> int: ...
    @property
    def ciphertext_size(self) -> int: ...
    @property
    def shared_secret_size(self) -> int: ...

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        """Return (encapsulation_key, decapsulation_key)."""
        ...

    def encapsulate(self, encapsulation_key: bytes, rng: Rng) -> Encapsulation:
        """Validate ``encapsulation_key`` (FIPS 203 input checks) and encapsulate."""
        ...

    def decapsulate(self, decapsulation_key: bytes, ciphertext: bytes) -> bytes:
        """Return the shared secret (implicit rejection on a bad ciphertext)."""
        ...


class DiffieHellman(Protocol):
    """A classical DH group (X25519, P-256): needed for EDHOC static-DH methods."""

    @property
    def name(self) -> str: ...
    @property
    def identifier(self) -> int: ...
    @property
    def public_key_size(self) -> int: ...

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        """Return (public_key, private_key); private key is the raw scalar."""
        ...

    def public_key(self, private_key: bytes) -> bytes:
        """Derive the public key (x-coordinate only for P-256, as EDHOC uses)."""
        ...

    def exchange(self, private_key: bytes, peer_public_key: bytes) -> bytes:
        """Return the shared secret (x-coordinate for P-256)."""
        ...


class SignatureScheme(Protocol):
    """A signature algorithm identified by its COSE alg id."""

    @property
    def name(self) -> str: ...
    @property
    def cose_alg(self) -> int: ...
    @property
    def public_key_size(self) -> int: ...
    # fixed (padded) size, or maximum size for variable-length schemes
    @property
    def signature_size(self) -> int: ...

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        """Return (public_key, private_key) in the scheme's standard encodings."""
        ...

    def sign(self, private_key: bytes, message: bytes, rng: Rng | None = None) -> bytes:
        """Sign ``message``; ``rng`` None selects the deterministic variant where one exists."""
        ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """Return True only for a valid signature; malformed inputs return False."""
        ...


class Aead(Protocol):
    """An AEAD algorithm identified by its COSE alg id."""

    @property
    def name(self) -> str: ...
    @property
    def cose_alg(self) -> int: ...
    @property
    def key_size(self) -> int: ...
    @property
    def nonce_size(self) -> int: ...
    @property
    def tag_size(self) -> int: ...

    def seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """Return ciphertext || tag."""
        ...

    def open(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        """Return the plaintext or raise :class:`pqiot.reference.errors.InvalidTag`."""
        ...


class HashAlgorithm(Protocol):
    """EDHOC hash + its Extract/Expand pair (HKDF for SHA-2, KMAC for SHAKE; RFC 9528 §4.1.1)."""

    @property
    def name(self) -> str: ...
    @property
    def cose_alg(self) -> int: ...
    @property
    def digest_size(self) -> int: ...

    def hash(self, data: bytes) -> bytes:
        """Return the digest (SHAKE256: ``digest_size`` bytes of output)."""
        ...

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        """EDHOC_Extract."""
        ...

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        """EDHOC_Expand."""
        ...
