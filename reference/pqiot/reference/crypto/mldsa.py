"""ML-DSA-44/65/87 (FIPS 204, pure variant, empty context) as :class:`~.interfaces.SignatureScheme`.

Private keys are the 32-byte seed xi (FIPS 204 §6.1 seed format); expanded
secret keys are accepted by :meth:`MlDsa.sign` and the KAT entry points.
``sign(sk, msg)`` is the deterministic variant (rnd = 32 zero bytes), and
``sign(sk, msg, rng)`` the hedged one with rnd drawn from ``rng``: both run
``ML-DSA.Sign_internal`` with that rnd, so the signature is a pure function of
the inputs. The derandomised entry points (:meth:`MlDsa.keygen_internal`,
:meth:`MlDsa.sign_internal`, :meth:`MlDsa.sign_with_context`) run in
PyCryptodome's C code (:mod:`.pycryptodome_backend`) when it is installed;
``dilithium-py`` (pure Python) computes what PyCryptodome cannot express
(a formatted message M' that is not pure ML-DSA's ``0 || |ctx| || ctx || M``,
an expanded key it refuses) and everything in :meth:`MlDsa.pure_python`,
the independent second implementation the tests compare against. Hedged
signing with the system RNG uses ``cryptography`` (OpenSSL draws rnd itself)
for speed. Verification uses ``cryptography``, else liboqs, else
dilithium-py; it never raises.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dilithium_py.ml_dsa import ML_DSA_44, ML_DSA_65, ML_DSA_87

from pqiot.reference.crypto import pycryptodome_backend
from pqiot.reference.crypto.backends import cryptography_supports, oqs_module
from pqiot.reference.crypto.interfaces import Rng
from pqiot.reference.crypto.rng import system_rng
from pqiot.reference.errors import CryptoError

__all__ = ["MLDSA44", "MLDSA65", "MLDSA87", "MlDsa", "MlDsaParameters"]

SEED_SIZE = 32
RND_SIZE = 32
_MAX_CONTEXT = 255


@dataclass(frozen=True)
class MlDsaParameters:
    """A FIPS 204 parameter set with its sizes and COSE alg id."""

    name: str
    cose_alg: int
    public_key_size: int
    secret_key_size: int
    signature_size: int
    cryptography_class: str


def _formatted_message(message: bytes, context: bytes) -> bytes:
    """M' = IntegerToBytes(0, 1) || IntegerToBytes(|ctx|, 1) || ctx || M (FIPS 204 Algorithm 2)."""
    if len(context) > _MAX_CONTEXT:
        raise CryptoError(
            f"ML-DSA context must be at most {_MAX_CONTEXT} bytes, got {len(context)}"
        )
    return bytes([0, len(context)]) + bytes(context) + bytes(message)


def _split_formatted(formatted_message: bytes) -> tuple[bytes, bytes] | None:
    """(ctx, M) of a pure ML-DSA M' = 0 || |ctx| || ctx || M; None for any other M'."""
    if len(formatted_message) < 2 or formatted_message[0] != 0:
        return None
    end = 2 + formatted_message[1]
    if len(formatted_message) < end:
        return None
    return bytes(formatted_message[2:end]), bytes(formatted_message[end:])


class MlDsa:
    """One ML-DSA parameter set."""

    def __init__(
        self, params: MlDsaParameters, pure_python: Any, *, use_c_backend: bool = True
    ) -> None:
        self.params = params
        self.name = params.name
        self.cose_alg = params.cose_alg
        self.public_key_size = params.public_key_size
        self.secret_key_size = params.secret_key_size
        self.signature_size = params.signature_size
        self.seed_size = SEED_SIZE
        self._dilithium = pure_python
        self._use_c_backend = use_c_backend

    def __repr__(self) -> str:
        return f"MlDsa({self.name})" if self._use_c_backend else f"MlDsa({self.name}, pure Python)"

    def pure_python(self) -> MlDsa:
        """This parameter set with its KAT entry points computed by dilithium-py alone.

        The independent second implementation: tests and accumulated-vector
        cross-checks compare it with the C backend chosen by default.
        """
        return MlDsa(self.params, self._dilithium, use_c_backend=False)

    def _c_backend(self) -> pycryptodome_backend.MlDsaC | None:
        return pycryptodome_backend.mldsa_backend(self.name) if self._use_c_backend else None

    def _cryptography_module(self) -> Any | None:
        if not cryptography_supports(self.name):
            return None
        return importlib.import_module("cryptography.hazmat.primitives.asymmetric.mldsa")

    # -- explicit KAT entry points ------------------------------------------
    def keygen_internal(self, xi: bytes) -> tuple[bytes, bytes]:
        """ML-DSA.KeyGen_internal(xi) -> (pk, expanded sk)."""
        if len(xi) != SEED_SIZE:
            raise CryptoError(f"{self.name} seed xi must be {SEED_SIZE} bytes, got {len(xi)}")
        fast = self._c_backend()
        if fast is not None:
            return fast.keygen_internal(xi)
        pk, sk = self._dilithium._keygen_internal(bytes(xi))
        return bytes(pk), bytes(sk)

    def sign_internal(self, secret_key: bytes, formatted_message: bytes, rnd: bytes) -> bytes:
        """ML-DSA.Sign_internal(sk, M', rnd) with an expanded secret key."""
        if len(secret_key) != self.secret_key_size:
            raise CryptoError(
                f"{self.name} expanded secret key must be {self.secret_key_size} bytes, "
                f"got {len(secret_key)}"
            )
        if len(rnd) != RND_SIZE:
            raise CryptoError(f"{self.name} rnd must be {RND_SIZE} bytes, got {len(rnd)}")
        fast = self._c_backend()
        pure_mldsa = _split_formatted(formatted_message)
        if fast is not None and pure_mldsa is not None:
            context, message = pure_mldsa
            signature = fast.sign(secret_key, message, context, rnd)
            if signature is not None:
                return signature
        return bytes(
            self._dilithium._sign_internal(bytes(secret_key), bytes(formatted_message), bytes(rnd))
        )

    def verify_internal(
        self, public_key: bytes, formatted_message: bytes, signature: bytes
    ) -> bool:
        """ML-DSA.Verify_internal(pk, M', sigma) in dilithium-py only (for backend cross-checks)."""
        if len(public_key) != self.public_key_size or len(signature) != self.signature_size:
            return False
        try:
            return bool(
                self._dilithium._verify_internal(
                    bytes(public_key), bytes(formatted_message), bytes(signature)
                )
            )
        except Exception:  # malformed hint encoding etc.
            return False

    def sign_with_context(
        self, private_key: bytes, message: bytes, context: bytes, rnd: bytes
    ) -> bytes:
        """ML-DSA.Sign (pure) with explicit context and rnd; ``private_key`` is xi or expanded."""
        return self.sign_internal(
            self._expanded(private_key), _formatted_message(message, context), rnd
        )

    def verify_with_context(
        self, public_key: bytes, message: bytes, signature: bytes, context: bytes
    ) -> bool:
        """ML-DSA.Verify (pure) with an explicit context; False on any malformed input."""
        if len(public_key) != self.public_key_size or len(signature) != self.signature_size:
            return False
        if len(context) > _MAX_CONTEXT:
            return False
        module = self._cryptography_module()
        try:
            if module is not None:
                cls = getattr(module, self.params.cryptography_class.replace("Private", "Public"))
                cls.from_public_bytes(bytes(public_key)).verify(
                    bytes(signature), bytes(message), bytes(context) or None
                )
                return True
            oqs = oqs_module()
            if oqs is not None and not context:
                with oqs.Signature(self.name) as verifier:
                    return bool(
                        verifier.verify(bytes(message), bytes(signature), bytes(public_key))
                    )
            formatted = _formatted_message(message, context)
            return bool(
                self._dilithium._verify_internal(bytes(public_key), formatted, bytes(signature))
            )
        except Exception:  # InvalidSignature or a malformed encoding: both are "not valid"
            return False

    def _expanded(self, private_key: bytes) -> bytes:
        if len(private_key) == SEED_SIZE:
            return self.keygen_internal(private_key)[1]
        if len(private_key) == self.secret_key_size:
            return bytes(private_key)
        raise CryptoError(
            f"{self.name} private key must be the {SEED_SIZE}-byte seed or the "
            f"{self.secret_key_size}-byte expanded key, got {len(private_key)} bytes"
        )

    # -- SignatureScheme protocol -----------------------------------------
    def public_key_from_seed(self, xi: bytes) -> bytes:
        if len(xi) != SEED_SIZE:
            raise CryptoError(f"{self.name} seed xi must be {SEED_SIZE} bytes, got {len(xi)}")
        module = self._cryptography_module()
        if module is not None:
            private = getattr(module, self.params.cryptography_class).from_seed_bytes(bytes(xi))
            return bytes(private.public_key().public_bytes_raw())
        return self.keygen_internal(xi)[0]

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        """Draw xi (32 bytes) from ``rng``; return (pk, xi)."""
        xi = rng(SEED_SIZE)
        return self.public_key_from_seed(xi), xi

    def sign(self, private_key: bytes, message: bytes, rng: Rng | None = None) -> bytes:
        """Deterministic (``rng`` None) or hedged ML-DSA signature with empty context."""
        module = self._cryptography_module()
        if (
            (rng is system_rng or rng is os.urandom)
            and module is not None
            and len(private_key) == SEED_SIZE
        ):
            private = getattr(module, self.params.cryptography_class).from_seed_bytes(
                bytes(private_key)
            )
            return bytes(private.sign(bytes(message)))
        rnd = bytes(RND_SIZE) if rng is None else rng(RND_SIZE)
        return self.sign_with_context(private_key, message, b"", rnd)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return self.verify_with_context(public_key, message, signature, b"")

    def hedged_signer(self, private_key: bytes) -> Callable[[bytes], bytes] | None:
        """``message -> sign(private_key, message, system_rng)`` with the seed parsed once.

        Expanding the seed costs a good part of a signature; a SecurityProvider
        that signs many times with one key keeps this signer instead. None when
        the cryptography backend cannot sign (the caller then uses :meth:`sign`).
        """
        module = self._cryptography_module()
        if module is None or len(private_key) != SEED_SIZE:
            return None
        private = getattr(module, self.params.cryptography_class).from_seed_bytes(
            bytes(private_key)
        )

        def sign(message: bytes) -> bytes:
            return bytes(private.sign(bytes(message)))

        return sign


MLDSA44 = MlDsa(MlDsaParameters("ML-DSA-44", -48, 1312, 2560, 2420, "MLDSA44PrivateKey"), ML_DSA_44)
MLDSA65 = MlDsa(MlDsaParameters("ML-DSA-65", -49, 1952, 4032, 3309, "MLDSA65PrivateKey"), ML_DSA_65)
MLDSA87 = MlDsa(MlDsaParameters("ML-DSA-87", -50, 2592, 4896, 4627, "MLDSA87PrivateKey"), ML_DSA_87)
