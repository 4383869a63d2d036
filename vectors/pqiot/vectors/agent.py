"""The primitive operations a vector verifier needs, as a device exposes them.

:class:`PrimitiveAgent` mirrors the primitive commands of the Test Agent
Protocol (spec chapter 13 §13.3: MLKEM_*, SIG_*, AEAD_*, HKDF, HASH,
ACCUMULATED) with the same argument names and explicit randomness, so the
same verifiers run against the reference (:class:`ReferenceAgent`) and, once
the HIL harness exists (issue 6), against a device under test. TAP status 6
(invalid_input) is :class:`InputRejected`, status 3 (unsupported) is
:class:`Unsupported`; a failed tag or signature check is a normal result
(``None`` / ``False``), as REQ-TAP-011 says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = [
    "ACCUMULATED_PRIMITIVES",
    "InputRejected",
    "PrimitiveAgent",
    "ReferenceAgent",
    "Unsupported",
]

#: TAP ``prim`` names of ACCUMULATED -> scheme names of :mod:`pqiot.vectors.accumulated`.
ACCUMULATED_PRIMITIVES: dict[str, str] = {
    "ml-kem-512": "ML-KEM-512",
    "ml-kem-768": "ML-KEM-768",
    "ml-kem-1024": "ML-KEM-1024",
    "ml-dsa-44": "ML-DSA-44",
    "ml-dsa-65": "ML-DSA-65",
    "ml-dsa-87": "ML-DSA-87",
}

Progress = Callable[[int, int], None]


class InputRejected(Exception):
    """The agent refused an argument value (TAP status 6, e.g. an ek failing FIPS 203 §7.2)."""


class Unsupported(Exception):
    """The agent does not implement this algorithm or option (TAP status 3)."""


@runtime_checkable
class PrimitiveAgent(Protocol):
    """Primitive entry points with explicit randomness (TAP commands 16-64)."""

    @property
    def name(self) -> str: ...

    def mlkem_keygen(self, parameter_set: int, d: bytes, z: bytes) -> tuple[bytes, bytes]:
        """ML-KEM.KeyGen_internal(d, z) -> (ek, dk) (MLKEM_KEYGEN)."""
        ...

    def mlkem_encaps(self, parameter_set: int, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
        """ML-KEM.Encaps_internal(ek, m) after the §7.2 checks -> (c, K) (MLKEM_ENCAPS)."""
        ...

    def mlkem_decaps(self, parameter_set: int, dk: bytes, c: bytes) -> bytes:
        """ML-KEM.Decaps(dk, c) with implicit rejection -> K (MLKEM_DECAPS)."""
        ...

    def sig_keygen(self, alg: int, seed: bytes) -> tuple[bytes, bytes]:
        """ML-DSA.KeyGen_internal(xi) -> (pk, sk) (SIG_KEYGEN)."""
        ...

    def sig_sign(self, alg: int, sk: bytes, msg: bytes, ctx: bytes, rnd: bytes) -> bytes:
        """ML-DSA.Sign with context and rnd (SIG_SIGN)."""
        ...

    def sig_verify(self, alg: int, pk: bytes, msg: bytes, sig: bytes, ctx: bytes) -> bool:
        """Signature verification; False for any invalid or malformed signature (SIG_VERIFY)."""
        ...

    def aead_seal(self, alg: int, key: bytes, nonce: bytes, aad: bytes, pt: bytes) -> bytes:
        """ciphertext || tag (AEAD_SEAL)."""
        ...

    def aead_open(self, alg: int, key: bytes, nonce: bytes, aad: bytes, ct: bytes) -> bytes | None:
        """Plaintext, or None when the tag does not verify (AEAD_OPEN)."""
        ...

    def hkdf(
        self,
        hash_alg: int,
        mode: str,
        *,
        salt: bytes,
        ikm: bytes,
        prk: bytes,
        info: bytes,
        length: int,
    ) -> bytes:
        """RFC 5869 HKDF, mode "full" / "extract" / "expand" (HKDF)."""
        ...

    def hash(self, alg: str, data: bytes, length: int | None = None) -> bytes:
        """SHA-2 / SHA-3 / SHAKE digest (HASH)."""
        ...

    def accumulated(self, prim: str, n: int, progress: Progress | None = None) -> bytes:
        """32-byte digest of the §13.7 accumulated procedure (ACCUMULATED)."""
        ...


_MLKEM_SETS = {512: "MLKEM512", 768: "MLKEM768", 1024: "MLKEM1024"}
_HKDF_HASHES = {-16: "sha256", -43: "sha384"}
_HASHES = {
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
    "sha3-256": "sha3_256",
    "sha3-512": "sha3_512",
    "shake128": "shake_128",
    "shake256": "shake_256",
}
_MLDSA_ALGS = (-48, -49, -50)


class ReferenceAgent:
    """:class:`PrimitiveAgent` backed by the reference implementation's crypto layer."""

    @property
    def name(self) -> str:
        return "reference"

    # -- ML-KEM -----------------------------------------------------------------
    @staticmethod
    def _kem(parameter_set: int):  # type: ignore[no-untyped-def]
        from pqiot.reference.crypto import mlkem

        try:
            return getattr(mlkem, _MLKEM_SETS[parameter_set])
        except KeyError:
            raise Unsupported(f"ML-KEM parameter set {parameter_set} does not exist") from None

    def mlkem_keygen(self, parameter_set: int, d: bytes, z: bytes) -> tuple[bytes, bytes]:
        from pqiot.reference.errors import CryptoError

        try:
            ek, dk = self._kem(parameter_set).keygen_internal(d, z)
        except CryptoError as exc:
            raise InputRejected(str(exc)) from None
        return bytes(ek), bytes(dk)

    def mlkem_encaps(self, parameter_set: int, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
        from pqiot.reference.errors import CryptoError

        try:
            shared, ciphertext = self._kem(parameter_set).encaps_internal(ek, m)
        except CryptoError as exc:
            raise InputRejected(str(exc)) from None
        return bytes(ciphertext), bytes(shared)

    def mlkem_decaps(self, parameter_set: int, dk: bytes, c: bytes) -> bytes:
        from pqiot.reference.errors import CryptoError

        try:
            return bytes(self._kem(parameter_set).decaps(dk, c))
        except CryptoError as exc:
            raise InputRejected(str(exc)) from None

    # -- signatures ---------------------------------------------------------------
    @staticmethod
    def _signature(alg: int):  # type: ignore[no-untyped-def]
        from pqiot.reference.crypto import registry
        from pqiot.reference.errors import UnsupportedAlgorithm

        try:
            return registry.signature(alg)
        except UnsupportedAlgorithm as exc:
            raise Unsupported(str(exc)) from None

    def sig_keygen(self, alg: int, seed: bytes) -> tuple[bytes, bytes]:
        from pqiot.reference.errors import CryptoError

        if alg not in _MLDSA_ALGS:
            raise Unsupported(f"seeded key generation is defined for ML-DSA only, not alg {alg}")
        try:
            pk, sk = self._signature(alg).keygen_internal(seed)
        except CryptoError as exc:
            raise InputRejected(str(exc)) from None
        return bytes(pk), bytes(sk)

    def sig_sign(self, alg: int, sk: bytes, msg: bytes, ctx: bytes, rnd: bytes) -> bytes:
        from pqiot.reference.errors import CryptoError

        if alg not in _MLDSA_ALGS:
            raise Unsupported(
                f"fixed-randomness signing is defined for ML-DSA only, not alg {alg} (§13.3)"
            )
        try:
            return bytes(self._signature(alg).sign_with_context(sk, msg, ctx, rnd))
        except CryptoError as exc:
            raise InputRejected(str(exc)) from None

    def sig_verify(self, alg: int, pk: bytes, msg: bytes, sig: bytes, ctx: bytes) -> bool:
        scheme = self._signature(alg)
        if alg in _MLDSA_ALGS:
            return bool(scheme.verify_with_context(pk, msg, sig, ctx))
        if ctx:
            raise Unsupported(f"alg {alg} has no context string")
        return bool(scheme.verify(pk, msg, sig))

    # -- AEAD -------------------------------------------------------------------
    @staticmethod
    def _aead(alg: int):  # type: ignore[no-untyped-def]
        from pqiot.reference.crypto import registry
        from pqiot.reference.errors import UnsupportedAlgorithm

        try:
            return registry.aead(alg)
        except UnsupportedAlgorithm as exc:
            raise Unsupported(str(exc)) from None

    def aead_seal(self, alg: int, key: bytes, nonce: bytes, aad: bytes, pt: bytes) -> bytes:
        from pqiot.reference.errors import CryptoError

        try:
            return bytes(self._aead(alg).seal(key, nonce, pt, aad))
        except CryptoError as exc:
            raise InputRejected(str(exc)) from None

    def aead_open(self, alg: int, key: bytes, nonce: bytes, aad: bytes, ct: bytes) -> bytes | None:
        from pqiot.reference.errors import CryptoError, InvalidTag

        try:
            return bytes(self._aead(alg).open(key, nonce, ct, aad))
        except InvalidTag:
            return None
        except CryptoError as exc:
            raise InputRejected(str(exc)) from None

    # -- KDF and hashes -----------------------------------------------------------
    def hkdf(
        self,
        hash_alg: int,
        mode: str,
        *,
        salt: bytes = b"",
        ikm: bytes = b"",
        prk: bytes = b"",
        info: bytes = b"",
        length: int = 0,
    ) -> bytes:
        from pqiot.reference.crypto.hashes import hkdf_expand, hkdf_extract
        from pqiot.reference.errors import CryptoError

        hash_name = _HKDF_HASHES.get(hash_alg)
        if hash_name is None:
            raise Unsupported(f"HKDF is defined for hash -16 and -43, not {hash_alg}")
        try:
            if mode == "extract":
                return hkdf_extract(hash_name, salt, ikm)
            if mode == "expand":
                return hkdf_expand(hash_name, prk, info, length)
            if mode == "full":
                return hkdf_expand(hash_name, hkdf_extract(hash_name, salt, ikm), info, length)
        except CryptoError as exc:
            raise InputRejected(str(exc)) from None
        raise InputRejected(f"HKDF mode must be full, extract or expand, not {mode!r}")

    def hash(self, alg: str, data: bytes, length: int | None = None) -> bytes:
        import hashlib

        name = _HASHES.get(alg)
        if name is None:
            raise Unsupported(f"hash {alg!r} is not one of {', '.join(_HASHES)}")
        if name.startswith("shake"):
            if length is None:
                raise InputRejected(f"{alg} needs an output length")
            return hashlib.new(name, data).digest(length)  # type: ignore[call-arg]
        return hashlib.new(name, data).digest()

    def accumulated(self, prim: str, n: int, progress: Progress | None = None) -> bytes:
        from pqiot.vectors.accumulated import accumulated_digest

        scheme = ACCUMULATED_PRIMITIVES.get(prim)
        if scheme is None:
            raise Unsupported(f"no accumulated procedure for {prim!r}")
        return bytes.fromhex(accumulated_digest(scheme, n, progress))
