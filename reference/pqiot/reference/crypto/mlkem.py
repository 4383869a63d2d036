"""ML-KEM-512/768/1024 (FIPS 203) as :class:`~.interfaces.Kem`.

Private keys are the 64-byte seed d||z (FIPS 203 §7.1 seed format); the
expanded decapsulation key is accepted too. Backends:

* ``cryptography`` (OpenSSL) for ML-KEM-768/1024 key derivation from the seed,
  decapsulation with a seed, and encapsulation with system randomness;
* PyCryptodome's C code (:mod:`.pycryptodome_backend`) for the derandomised
  entry points (:meth:`MlKem.keygen_internal`, :meth:`MlKem.encaps_internal`),
  for decapsulation with an expanded key — the Test Agent Protocol's KAT
  commands — and for ML-KEM-512, which OpenSSL lacks;
* ``kyber-py`` (pure Python) for the same entry points when PyCryptodome is
  missing or refuses an input, and always in :meth:`MlKem.pure_python`, the
  independent second implementation that the tests compare against;
* ``liboqs-python`` if importable, for decapsulation with an expanded key
  that PyCryptodome cannot take (not installed, or the key refused).

Decapsulation has two doors (REQ-GEN-004). :meth:`MlKem.decapsulate`, the
:class:`~.interfaces.Kem` method every protocol path uses, runs only code whose
implicit rejection compares and selects in constant time: OpenSSL's
(``CRYPTO_memcmp`` + ``constant_time_select_8``) or PyCryptodome's mlkem-native
(``mlk_ct_memcmp`` + ``mlk_ct_cmov_zero``); a key neither takes is refused with
:class:`CryptoError`. :meth:`MlKem.decaps`, the FIPS 203 entry point of KATs,
negative vectors and TAP MLKEM_DECAPS, answers for every well-formed key and so
may fall back to kyber-py, whose ``c == c'`` is Python's variable-time ``==``.

Encapsulation with any rng other than the system RNG goes through
:meth:`MlKem.encaps_internal`, so the result is a pure function of the rng
stream (needed for vectors). FIPS 203 §7.2/§7.3 input checks are done here,
before any backend sees the input, and fail with :class:`CryptoError`.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from typing import Any

from kyber_py.ml_kem import ML_KEM_512, ML_KEM_768, ML_KEM_1024

from pqiot.reference.crypto import pycryptodome_backend
from pqiot.reference.crypto.backends import cryptography_supports, oqs_module
from pqiot.reference.crypto.interfaces import Encapsulation, Rng
from pqiot.reference.crypto.rng import system_rng
from pqiot.reference.errors import CryptoError

__all__ = ["MLKEM512", "MLKEM768", "MLKEM1024", "MlKem", "MlKemParameters"]

Q = 3329
SEED_SIZE = 64
SHARED_SECRET_SIZE = 32


@dataclass(frozen=True)
class MlKemParameters:
    """The FIPS 203 parameter set and its PQC-IIoT key-exchange id (D2)."""

    name: str
    identifier: int
    k: int
    du: int
    dv: int
    cryptography_class: str | None  # name in cryptography's mlkem module, None if unsupported

    @property
    def encapsulation_key_size(self) -> int:
        return 384 * self.k + 32

    @property
    def decapsulation_key_size(self) -> int:
        return 768 * self.k + 96

    @property
    def ciphertext_size(self) -> int:
        return 32 * (self.du * self.k + self.dv)


# q = 3329 = 0xD01. Three bytes (lo, mid, hi) hold two 12-bit coefficients,
# a = lo | (mid & 0xF) << 8 and b = mid >> 4 | hi << 4. So a >= q exactly when
# mid & 0xF > 13, or == 13 with lo > 0; and b >= q exactly when hi > 208, or
# == 208 with mid >> 4 > 0. Byte-wise max/translate/find run in C, leaving a
# Python loop only over the rare borderline positions (a or b equal to 3328
# or 3329..): the check is every encapsulation's cost, on every handshake.
_LOW_NIBBLE = bytes(i & 0x0F for i in range(256))
_Q_NIBBLE, _Q_HIGH_BYTE = Q >> 8, Q >> 4
# translate(None, keep) deletes these, leaving only the bytes that are too large.
_MID_NIBBLE_OK = bytes(i for i in range(256) if i & 0x0F <= _Q_NIBBLE)
_HIGH_BYTE_OK = bytes(range(_Q_HIGH_BYTE + 1))


def _coefficients_reduced(encoded: bytes) -> bool:
    """True when all 12-bit coefficients of ByteEncode_12 output are < q (FIPS 203 §7.2)."""
    if len(encoded) % 3:
        raise ValueError("ByteEncode_12 output is a multiple of 3 bytes")
    if not encoded:
        return True
    lo, mid, hi = encoded[0::3], encoded[1::3], encoded[2::3]
    if mid.translate(None, _MID_NIBBLE_OK) or hi.translate(None, _HIGH_BYTE_OK):
        return False
    nibbles = mid.translate(_LOW_NIBBLE)
    i = nibbles.find(_Q_NIBBLE)
    while i >= 0:
        if lo[i]:
            return False
        i = nibbles.find(_Q_NIBBLE, i + 1)
    i = hi.find(_Q_HIGH_BYTE)
    while i >= 0:
        if mid[i] >> 4:
            return False
        i = hi.find(_Q_HIGH_BYTE, i + 1)
    return True


class MlKem:
    """One ML-KEM parameter set."""

    def __init__(
        self, params: MlKemParameters, pure_python: Any, *, use_c_backend: bool = True
    ) -> None:
        self.params = params
        self.name = params.name
        self.identifier = params.identifier
        self.encapsulation_key_size = params.encapsulation_key_size
        self.decapsulation_key_size = params.decapsulation_key_size
        self.ciphertext_size = params.ciphertext_size
        self.shared_secret_size = SHARED_SECRET_SIZE
        self.seed_size = SEED_SIZE
        self._kyber = pure_python
        self._use_c_backend = use_c_backend

    def __repr__(self) -> str:
        return f"MlKem({self.name})" if self._use_c_backend else f"MlKem({self.name}, pure Python)"

    def pure_python(self) -> MlKem:
        """This parameter set computed by kyber-py alone (KAT entry points and decaps).

        The independent second implementation: tests and accumulated-vector
        cross-checks compare it with the C backend chosen by default.
        """
        return MlKem(self.params, self._kyber, use_c_backend=False)

    # -- backend selection -------------------------------------------------
    def _c_backend(self) -> pycryptodome_backend.MlKemC | None:
        return pycryptodome_backend.mlkem_backend(self.name) if self._use_c_backend else None

    def _cryptography_private_key(self, seed: bytes) -> Any | None:
        cls_name = self.params.cryptography_class
        if cls_name is None or not cryptography_supports(self.name):
            return None
        module = importlib.import_module("cryptography.hazmat.primitives.asymmetric.mlkem")
        return getattr(module, cls_name).from_seed_bytes(seed)

    # -- FIPS 203 input checks ---------------------------------------------
    def check_encapsulation_key(self, ek: bytes) -> None:
        """FIPS 203 §7.2: type check (length) and modulus check."""
        if len(ek) != self.encapsulation_key_size:
            raise CryptoError(
                f"{self.name} encapsulation key must be {self.encapsulation_key_size} bytes, "
                f"got {len(ek)}"
            )
        if not _coefficients_reduced(ek[: 384 * self.params.k]):
            raise CryptoError(
                f"{self.name} encapsulation key fails the modulus check (a coefficient is >= {Q})"
            )

    def check_ciphertext(self, c: bytes) -> None:
        """FIPS 203 §7.3: ciphertext type check (length)."""
        if len(c) != self.ciphertext_size:
            raise CryptoError(
                f"{self.name} ciphertext must be {self.ciphertext_size} bytes, got {len(c)}"
            )

    def check_decapsulation_key(self, dk: bytes) -> None:
        """FIPS 203 §7.3: decapsulation key type check and hash check H(ek) == h."""
        if len(dk) != self.decapsulation_key_size:
            raise CryptoError(
                f"{self.name} decapsulation key must be {self.decapsulation_key_size} bytes "
                f"(or the {SEED_SIZE}-byte seed), got {len(dk)}"
            )
        k = self.params.k
        ek = dk[384 * k : 768 * k + 32]
        if hashlib.sha3_256(ek).digest() != dk[768 * k + 32 : 768 * k + 64]:
            raise CryptoError(
                f"{self.name} decapsulation key fails the hash check (H(ek) does not match)"
            )

    # -- explicit KAT entry points (FIPS 203 Algorithms 16-18) -------------
    def keygen_internal(self, d: bytes, z: bytes) -> tuple[bytes, bytes]:
        """ML-KEM.KeyGen_internal(d, z) -> (ek, expanded dk)."""
        if len(d) != 32 or len(z) != 32:
            raise CryptoError(
                f"{self.name} keygen needs 32-byte d and z, got {len(d)} and {len(z)}"
            )
        fast = self._c_backend()
        if fast is not None:
            return fast.keygen_internal(d, z)
        ek, dk = self._kyber._keygen_internal(bytes(d), bytes(z))
        return bytes(ek), bytes(dk)

    def encaps_internal(self, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
        """ML-KEM.Encaps_internal(ek, m) -> (K, c), after the §7.2 input checks."""
        if len(m) != 32:
            raise CryptoError(
                f"{self.name} encapsulation randomness m must be 32 bytes, got {len(m)}"
            )
        self.check_encapsulation_key(ek)
        fast = self._c_backend()
        if fast is not None:
            return fast.encaps_internal(ek, m)
        shared, ciphertext = self._kyber._encaps_internal(bytes(ek), bytes(m))
        return bytes(shared), bytes(ciphertext)

    def decaps(self, dk: bytes, c: bytes) -> bytes:
        """ML-KEM.Decaps(dk, c) with an expanded key, after the §7.3 input checks.

        The KAT / TAP entry point: any well-formed key decapsulates as FIPS 203 says,
        through kyber-py (not constant time) when PyCryptodome is missing or refuses
        the key. Protocol code calls :meth:`decapsulate` instead.
        """
        self.check_ciphertext(c)
        self.check_decapsulation_key(dk)
        shared = self._constant_time_decaps(dk, c)
        if shared is not None:
            return shared
        oqs = oqs_module() if self._use_c_backend else None
        if oqs is not None:
            with oqs.KeyEncapsulation(self.name, secret_key=bytes(dk)) as kem:
                return bytes(kem.decap_secret(bytes(c)))
        return bytes(self._kyber._decaps_internal(bytes(dk), bytes(c)))

    def _constant_time_decaps(self, dk: bytes, c: bytes) -> bytes | None:
        """PyCryptodome's C decapsulation (mlkem-native), or None if absent or ``dk`` refused."""
        fast = self._c_backend()
        return fast.decaps(dk, c) if fast is not None else None

    def expand_seed(self, seed: bytes) -> tuple[bytes, bytes]:
        """Seed d||z -> (ek, expanded dk)."""
        self._check_seed(seed)
        return self.keygen_internal(seed[:32], seed[32:])

    def _check_seed(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise CryptoError(f"{self.name} seed must be {SEED_SIZE} bytes (d||z), got {len(seed)}")

    # -- Kem protocol --------------------------------------------------------
    def encapsulation_key_from_seed(self, seed: bytes) -> bytes:
        self._check_seed(seed)
        private = self._cryptography_private_key(bytes(seed))
        if private is not None:
            return bytes(private.public_key().public_bytes_raw())
        return self.expand_seed(seed)[0]

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        """Draw d||z (64 bytes) from ``rng``; return (ek, seed)."""
        seed = rng(SEED_SIZE)
        return self.encapsulation_key_from_seed(seed), seed

    def encapsulate(self, encapsulation_key: bytes, rng: Rng) -> Encapsulation:
        """Check ``encapsulation_key`` and encapsulate with m drawn from ``rng`` (32 bytes)."""
        self.check_encapsulation_key(encapsulation_key)
        if (
            (rng is system_rng or rng is os.urandom)
            and self.params.cryptography_class
            and cryptography_supports(self.name)
        ):
            module = importlib.import_module("cryptography.hazmat.primitives.asymmetric.mlkem")
            public_cls = getattr(
                module, self.params.cryptography_class.replace("Private", "Public")
            )
            shared, ciphertext = public_cls.from_public_bytes(
                bytes(encapsulation_key)
            ).encapsulate()
            return Encapsulation(ciphertext=bytes(ciphertext), shared_secret=bytes(shared))
        shared, ciphertext = self.encaps_internal(encapsulation_key, rng(32))
        return Encapsulation(ciphertext=ciphertext, shared_secret=shared)

    def decapsulate(self, decapsulation_key: bytes, ciphertext: bytes) -> bytes:
        """Decapsulate with the seed or the expanded key; implicit rejection on a bad ciphertext.

        The protocol door (REQ-GEN-004): OpenSSL for a 768/1024 seed, else PyCryptodome's
        C code, never kyber-py. A key PyCryptodome refuses (pairwise consistency), or a
        machine without PyCryptodome, gets CryptoError, which a handshake turns into
        internal_error. Only :meth:`pure_python` instances, which no protocol path holds,
        decapsulate in kyber-py here.
        """
        if len(decapsulation_key) == SEED_SIZE:
            self.check_ciphertext(ciphertext)
            private = self._cryptography_private_key(bytes(decapsulation_key))
            if private is not None:
                return bytes(private.decapsulate(bytes(ciphertext)))
            decapsulation_key = self.expand_seed(decapsulation_key)[1]
        if not self._use_c_backend:
            return self.decaps(decapsulation_key, ciphertext)
        self.check_ciphertext(ciphertext)
        self.check_decapsulation_key(decapsulation_key)
        shared = self._constant_time_decaps(decapsulation_key, ciphertext)
        if shared is None:
            raise CryptoError(
                f"{self.name} decapsulation refused: PyCryptodome >= 4.4 (constant-time C code) "
                "is not installed or rejects this decapsulation key; protocol code never "
                "falls back to the variable-time kyber-py (REQ-GEN-004)"
            )
        return shared


MLKEM512 = MlKem(MlKemParameters("ML-KEM-512", -65701, 2, 10, 4, None), ML_KEM_512)
MLKEM768 = MlKem(MlKemParameters("ML-KEM-768", -65702, 3, 10, 4, "MLKEM768PrivateKey"), ML_KEM_768)
MLKEM1024 = MlKem(
    MlKemParameters("ML-KEM-1024", -65703, 4, 11, 5, "MLKEM1024PrivateKey"), ML_KEM_1024
)
