"""SecurityProvider with keys in process memory (D6), for hosts and tests.

Private keys live in ``bytearray``s owned by the provider and are overwritten
with zeros when a key is removed and when the provider is closed (or its
``with`` block ends). This is best effort: the crypto backends take ``bytes``,
so each operation makes a short-lived immutable copy Python cannot wipe, and a
signing key the backend can hold parsed (ML-DSA in OpenSSL, for hedged
signing) is parsed once when added — re-expanding the seed on every handshake
cost nearly as much as the signature — and that backend object is dropped
(OpenSSL cleanses it when freed) on removal and close. What
it does guarantee is that keys are never reachable through ``repr``/``str``,
logging or pickling of the provider and that no key outlives ``close()`` in the
provider's own storage.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from pqiot.reference.crypto import registry
from pqiot.reference.crypto.interfaces import Rng
from pqiot.reference.crypto.rng import system_rng
from pqiot.reference.errors import CryptoError
from pqiot.reference.security_provider import KeyRef

__all__ = ["KeyKind", "ProviderError", "SoftwareSecurityProvider"]


class ProviderError(Exception):
    """Misuse of the provider: unknown or wrong-kind key, duplicate label, closed provider."""


class KeyKind(enum.Enum):
    SIGNATURE = "signature"
    KEM = "kem"
    DH = "dh"


class _Secret:
    """A private key buffer that never shows its content."""

    __slots__ = ("_buffer", "_erased")

    def __init__(self, data: bytes) -> None:
        self._buffer = bytearray(data)
        self._erased = False

    def reveal(self) -> bytes:
        if self._erased:
            raise ProviderError("key material was already erased")
        return bytes(self._buffer)

    def erase(self) -> None:
        """Overwrite in place (the buffer keeps its length so the wipe is checkable)."""
        for i in range(len(self._buffer)):
            self._buffer[i] = 0
        self._erased = True

    @property
    def buffer(self) -> bytearray:
        """The live buffer (for tests that check zeroisation)."""
        return self._buffer

    def __repr__(self) -> str:
        return f"<secret: {len(self._buffer)} bytes>"

    def __reduce__(self) -> str:
        raise TypeError("private key material cannot be pickled")


#: Digests of Falcon key pairs already found consistent (no key material is kept).
_FALCON_PAIRS_CHECKED: set[bytes] = set()


def _belongs_to(scheme: object, private_key: bytes, public_key: bytes) -> bool:
    """False only when the private key provably has another public key."""
    from_seed = getattr(scheme, "public_key_from_seed", None)
    if from_seed is not None and len(private_key) == 32:  # ML-DSA xi (FIPS 204 KeyGen_internal)
        return bool(from_seed(bytes(private_key)) == public_key)
    if from_seed is not None:  # an expanded ML-DSA key: rho = pk[0:32], tr = H(pk, 64)
        tr = hashlib.shake_256(public_key).digest(64)
        return private_key[:32] == public_key[:32] and private_key[64:128] == tr
    from_private = getattr(scheme, "public_key_from_private", None)
    if from_private is not None:  # Falcon: h = g / f mod q, ~0.1 s in Python, so remembered
        digest = hashlib.blake2b(private_key + public_key, person=b"pqiot falcon").digest()
        if digest in _FALCON_PAIRS_CHECKED:
            return True
        try:
            matches = bool(from_private(bytes(private_key)) == public_key)
        except CryptoError:
            return False
        if matches and len(_FALCON_PAIRS_CHECKED) < 64:
            _FALCON_PAIRS_CHECKED.add(digest)
        return matches
    derive = getattr(scheme, "public_key", None)
    if callable(derive):  # EdDSA, ECDSA
        try:
            return bool(derive(bytes(private_key)) == public_key)
        except (CryptoError, ValueError):
            return False
    return True


@dataclass
class _Entry:
    kind: KeyKind
    algorithm: int
    public_key: bytes
    secret: _Secret = field(repr=False)
    #: hedged signer bound to the backend's parsed key (see the module docstring)
    signer: Callable[[bytes], bytes] | None = field(default=None, repr=False)

    def erase(self) -> None:
        self.signer = None
        self.secret.erase()


class SoftwareSecurityProvider:
    """Holds signature, KEM and static-DH private keys by label.

    ``rng`` feeds hedged signing; ``rng=None`` selects each scheme's
    deterministic variant (ML-DSA with rnd = 0^32), which vector generation
    and known-answer tests need.
    """

    def __init__(self, *, rng: Rng | None = system_rng) -> None:
        self._rng = rng
        self._keys: dict[str, _Entry] = {}
        self._closed = False

    # -- key management ----------------------------------------------------
    def add_signature_key(
        self, label: str, alg: int, private_key: bytes, public_key: bytes
    ) -> KeyRef:
        """Add a key pair; ``public_key`` must belong to ``private_key`` (REQ-SP-012).

        The pair is checked where the private key determines the public key cheaply
        (an ML-DSA seed or expanded key, a Falcon key, an EdDSA/ECDSA scalar), so that
        :meth:`public_key` returns the public key of the private key, not a claim.
        """
        scheme = registry.signature(alg)
        if len(public_key) != scheme.public_key_size:
            raise ProviderError(
                f"{scheme.name} public key must be {scheme.public_key_size} bytes, "
                f"got {len(public_key)}"
            )
        if not _belongs_to(scheme, private_key, bytes(public_key)):
            raise ProviderError(
                f"{scheme.name} public key does not belong to the private key for {label!r}"
            )
        return self._add_signature(label, alg, private_key, public_key)

    def generate_signature_key(self, label: str, alg: int, rng: Rng) -> KeyRef:
        public_key, private_key = registry.signature(alg).generate(rng)
        return self._add_signature(label, alg, private_key, public_key)

    def _add_signature(self, label: str, alg: int, private_key: bytes, public_key: bytes) -> KeyRef:
        ref = self._add(label, KeyKind.SIGNATURE, alg, private_key, public_key)
        # Only the hedged path: rng=None (deterministic) and test RNGs go through sign().
        if self._rng is system_rng or self._rng is os.urandom:
            prepare = getattr(registry.signature(alg), "hedged_signer", None)
            if prepare is not None:
                self._keys[label].signer = prepare(private_key)
        return ref

    def add_kem_key(
        self, label: str, kem_id: int, decapsulation_key: bytes, encapsulation_key: bytes
    ) -> KeyRef:
        kem = registry.kem(kem_id)
        if len(encapsulation_key) != kem.encapsulation_key_size:
            raise ProviderError(
                f"{kem.name} encapsulation key must be {kem.encapsulation_key_size} bytes, "
                f"got {len(encapsulation_key)}"
            )
        return self._add(label, KeyKind.KEM, kem_id, decapsulation_key, encapsulation_key)

    def add_dh_key(
        self, label: str, dh_id: int, private_key: bytes, public_key: bytes | None = None
    ) -> KeyRef:
        group = registry.dh(dh_id)
        derived = group.public_key(private_key)
        if public_key is not None and bytes(public_key) != derived:
            raise ProviderError(
                f"{group.name} public key does not belong to the private key for {label!r}"
            )
        return self._add(label, KeyKind.DH, dh_id, private_key, derived)

    def remove_key(self, key: KeyRef) -> None:
        """Forget a key and zeroise its buffer."""
        entry = self._entry(key, None)
        del self._keys[key.label]
        entry.erase()

    def labels(self) -> list[str]:
        return sorted(self._keys)

    def _add(
        self, label: str, kind: KeyKind, algorithm: int, private_key: bytes, public_key: bytes
    ) -> KeyRef:
        self._check_open()
        if not label:
            raise ProviderError("key label must not be empty")
        if label in self._keys:
            raise ProviderError(f"a key labelled {label!r} already exists; remove it first")
        self._keys[label] = _Entry(kind, algorithm, bytes(public_key), _Secret(private_key))
        return KeyRef(label, algorithm)

    def _entry(self, key: KeyRef, kind: KeyKind | None) -> _Entry:
        self._check_open()
        entry = self._keys.get(key.label)
        if entry is None:
            raise ProviderError(f"no key labelled {key.label!r} in this provider")
        if entry.algorithm != key.algorithm:
            raise ProviderError(
                f"key {key.label!r} is for algorithm {entry.algorithm}, not {key.algorithm}"
            )
        if kind is not None and entry.kind is not kind:
            raise ProviderError(
                f"key {key.label!r} is a {entry.kind.value} key, not a {kind.value} key"
            )
        return entry

    def _check_open(self) -> None:
        if self._closed:
            raise ProviderError("this SecurityProvider is closed; its keys were erased")

    # -- SecurityProvider --------------------------------------------------
    def sign(self, key: KeyRef, message: bytes) -> bytes:
        entry = self._entry(key, KeyKind.SIGNATURE)
        if entry.signer is not None:
            return entry.signer(message)
        return registry.signature(entry.algorithm).sign(entry.secret.reveal(), message, self._rng)

    def decapsulate(self, key: KeyRef, ciphertext: bytes) -> bytes:
        entry = self._entry(key, KeyKind.KEM)
        return registry.kem(entry.algorithm).decapsulate(entry.secret.reveal(), ciphertext)

    def dh(self, key: KeyRef, peer_public_key: bytes) -> bytes:
        entry = self._entry(key, KeyKind.DH)
        return registry.dh(entry.algorithm).exchange(entry.secret.reveal(), peer_public_key)

    def public_key(self, key: KeyRef) -> bytes:
        return self._entry(key, None).public_key

    # -- lifetime ----------------------------------------------------------
    def close(self) -> None:
        """Zeroise every key; the provider refuses all further use."""
        for entry in self._keys.values():
            entry.erase()
        self._keys.clear()
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> SoftwareSecurityProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        keys = ", ".join(
            f"{label}:{e.kind.value}:{e.algorithm}" for label, e in sorted(self._keys.items())
        )
        state = "closed" if self._closed else f"keys=[{keys}]"
        return f"SoftwareSecurityProvider({state})"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("a SoftwareSecurityProvider holds private keys and cannot be pickled")
