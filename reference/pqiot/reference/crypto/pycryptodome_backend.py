"""Derandomised FIPS 203 / FIPS 204 entry points in C, through PyCryptodome >= 4.4.

The KAT and Test Agent Protocol entry points take their randomness as
arguments (ML-KEM ``KeyGen_internal(d, z)``, ``Encaps_internal(ek, m)``,
``Decaps`` with an expanded key; ML-DSA ``KeyGen_internal(xi)`` and signing
with an explicit ``rnd``). ``cryptography`` (OpenSSL) exposes none of them,
and kyber-py / dilithium-py compute them in pure Python, 100-1000 times
slower. PyCryptodome's C code computes all of them, so :mod:`.mlkem` and
:mod:`.mldsa` use it when it is installed and keep the pure-Python packages
as fallback and as the independent second implementation the tests compare
against.

Detection is lazy and cached, like :mod:`.backends`: :func:`mlkem_backend`
and :func:`mldsa_backend` return None when PyCryptodome is missing, too old,
or lacks an entry point, and the caller then uses the pure-Python package.
This module performs no input validation of its own beyond what PyCryptodome
does: the FIPS 203 §7.2/§7.3 checks stay in :mod:`.mlkem`, before any
backend sees the input.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from types import ModuleType
from typing import Any

__all__ = ["MlDsaC", "MlKemC", "mldsa_backend", "mlkem_backend", "pycryptodome_version"]

# FIPS parameter-set names -> attribute names in PyCryptodome's ParamSet enums.
_MLKEM_PARAM_SETS = {
    "ML-KEM-512": "ML_KEM_512",
    "ML-KEM-768": "ML_KEM_768",
    "ML-KEM-1024": "ML_KEM_1024",
}
_MLDSA_PARAM_SETS = {"ML-DSA-44": "ML_DSA_44", "ML-DSA-65": "ML_DSA_65", "ML-DSA-87": "ML_DSA_87"}


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a C extension that fails to load: both mean "absent"
        return None


class MlKemC:
    """One ML-KEM parameter set computed by ``Crypto.PublicKey.MLKEM``.

    ``encaps_internal`` and ``decaps`` use the key object's ``_encaps(coins)``
    and ``_decaps(ct)``: PyCryptodome's public KEM API draws m itself, and
    these two are the FIPS 203 Algorithms 17/18 with m as an argument.
    """

    def __init__(self, keys: ModuleType, param_set: Any) -> None:
        self._keys = keys
        self._param_set = param_set

    def keygen_internal(self, d: bytes, z: bytes) -> tuple[bytes, bytes]:
        """ML-KEM.KeyGen_internal(d, z) -> (ek, expanded dk)."""
        key = self._keys.construct(param_set=self._param_set, seed=bytes(d) + bytes(z))
        return bytes(key.ek), bytes(key.expanded_dk)

    def encaps_internal(self, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
        """ML-KEM.Encaps_internal(ek, m) -> (K, c); ``ek`` must have passed FIPS 203 §7.2."""
        key = self._keys.construct(param_set=self._param_set, ek=bytes(ek))
        shared, ciphertext = key._encaps(bytes(m))
        return bytes(shared), bytes(ciphertext)

    def decaps(self, dk: bytes, c: bytes) -> bytes | None:
        """ML-KEM.Decaps_internal(dk, c), or None when PyCryptodome refuses ``dk``.

        Importing an expanded key runs a pairwise consistency check on top of
        the FIPS 203 §7.3 hash check, so a dk with a corrupted dk_PKE part is
        refused here although FIPS 203 decapsulates with it (implicitly
        rejecting); MlKem.decaps (KAT / TAP door) then falls back to the
        pure-Python package to keep the FIPS 203 answer, while the protocol door
        MlKem.decapsulate refuses the key (REQ-GEN-004: kyber-py is not constant time).
        """
        try:
            key = self._keys.construct(param_set=self._param_set, expanded_dk=bytes(dk))
        except ValueError:
            return None
        return bytes(key._decaps(bytes(c)))


class MlDsaC:
    """One ML-DSA parameter set computed by PyCryptodome (``Crypto.PublicKey.MLDSA``)."""

    def __init__(self, keys: ModuleType, signatures: ModuleType, param_set: Any) -> None:
        self._keys = keys
        self._signatures = signatures
        self._param_set = param_set

    def keygen_internal(self, xi: bytes) -> tuple[bytes, bytes]:
        """ML-DSA.KeyGen_internal(xi) -> (pk, expanded sk)."""
        key = self._keys.construct(param_set=self._param_set, seed=bytes(xi))
        return bytes(key.pk), bytes(key.sk)

    def sign(self, secret_key: bytes, message: bytes, context: bytes, rnd: bytes) -> bytes | None:
        """Pure ML-DSA.Sign with explicit ``context`` and ``rnd``; None if the key is refused.

        PyCryptodome recomputes the public key from an expanded secret key and
        refuses one whose parts are inconsistent; FIPS 204 Sign_internal signs
        with any well-formed key, so the caller falls back to the pure-Python
        package for those. ``rnd`` reaches the signer through ``randfunc``
        (all-zero ``rnd`` is the same as ``deterministic=True``).
        """
        try:
            key = self._keys.construct(param_set=self._param_set, sk=bytes(secret_key))
        except ValueError:
            return None
        fixed = bytes(rnd)

        def randfunc(n: int) -> bytes:
            if n != len(fixed):  # a future PyCryptodome asking for more: never reuse bytes
                raise ValueError(f"PyCryptodome asked for {n} bytes of rnd, {len(fixed)} given")
            return fixed

        scheme = self._signatures.new(key, bytes(context), randfunc=randfunc)
        return bytes(scheme.sign(bytes(message)))


def _has(obj: Any, *names: str) -> bool:
    return all(callable(getattr(obj, name, None)) for name in names)


@functools.cache
def mlkem_backend(name: str) -> MlKemC | None:
    """The C ML-KEM parameter set ``name`` ("ML-KEM-768"); None if PyCryptodome cannot do it."""
    attribute = _MLKEM_PARAM_SETS.get(name)
    keys = _import("Crypto.PublicKey.MLKEM")
    if attribute is None or keys is None:
        return None
    param_set = getattr(keys, attribute, None)
    key_class = getattr(keys, "MLKEMKey", None)
    if param_set is None or not callable(getattr(keys, "construct", None)):
        return None
    if not _has(key_class, "_encaps", "_decaps"):
        return None
    return MlKemC(keys, param_set)


@functools.cache
def mldsa_backend(name: str) -> MlDsaC | None:
    """The C ML-DSA parameter set ``name`` ("ML-DSA-44"); None if PyCryptodome cannot do it."""
    attribute = _MLDSA_PARAM_SETS.get(name)
    keys = _import("Crypto.PublicKey.MLDSA")
    signatures = _import("Crypto.Signature.mldsa")
    if attribute is None or keys is None or signatures is None:
        return None
    param_set = getattr(keys, attribute, None)
    if param_set is None or not _has(keys, "construct") or not _has(signatures, "new"):
        return None
    return MlDsaC(keys, signatures, param_set)


def pycryptodome_version() -> str | bool:
    """The installed PyCryptodome version, or False (for :func:`.backends.available_backends`)."""
    try:
        return importlib.metadata.version("pycryptodome")
    except importlib.metadata.PackageNotFoundError:
        return False
