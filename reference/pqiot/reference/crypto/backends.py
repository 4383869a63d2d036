"""Which crypto backends are installed, and the optional liboqs hook.

``cryptography`` (OpenSSL) is the fast path for ML-KEM-768/1024 and ML-DSA
with seed keys and system randomness. PyCryptodome (>= 4.4, C code; see
:mod:`.pycryptodome_backend`) computes everything that needs explicit
randomness or expanded keys (the KAT / Test Agent entry points) and
ML-KEM-512. The pure-Python ``kyber-py`` / ``dilithium-py`` packages are the
fallback when PyCryptodome is missing or refuses an input, and the
independent second implementation the tests compare against.
``liboqs-python`` (import name ``oqs``) is optional and never required: when
importable, ML-KEM decapsulation with expanded keys (without PyCryptodome)
and ML-DSA verification (without cryptography's ML-DSA) go through it.
Detection is lazy (no import side effects at module load).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from types import ModuleType

from pqiot.reference.crypto.pycryptodome_backend import (
    mldsa_backend,
    mlkem_backend,
    pycryptodome_version,
)

__all__ = ["available_backends", "cryptography_supports", "oqs_module"]

# Constructors that prove a cryptography build really has a PQ algorithm
# (cryptography raises UnsupportedAlgorithm when its OpenSSL lacks it).
_CRYPTOGRAPHY_PROBES: dict[str, tuple[str, str, int]] = {
    "ML-KEM-768": ("cryptography.hazmat.primitives.asymmetric.mlkem", "MLKEM768PrivateKey", 64),
    "ML-KEM-1024": ("cryptography.hazmat.primitives.asymmetric.mlkem", "MLKEM1024PrivateKey", 64),
    "ML-DSA-44": ("cryptography.hazmat.primitives.asymmetric.mldsa", "MLDSA44PrivateKey", 32),
    "ML-DSA-65": ("cryptography.hazmat.primitives.asymmetric.mldsa", "MLDSA65PrivateKey", 32),
    "ML-DSA-87": ("cryptography.hazmat.primitives.asymmetric.mldsa", "MLDSA87PrivateKey", 32),
}


@functools.cache
def cryptography_supports(algorithm: str) -> bool:
    """True when the installed ``cryptography`` can derive an ``algorithm`` key from a seed."""
    probe = _CRYPTOGRAPHY_PROBES.get(algorithm)
    if probe is None:
        return False
    module_name, class_name, seed_size = probe
    try:
        module = importlib.import_module(module_name)
        getattr(module, class_name).from_seed_bytes(bytes(seed_size))
    except Exception:  # ImportError, AttributeError, UnsupportedAlgorithm: all mean "no"
        return False
    return True


@functools.cache
def oqs_module() -> ModuleType | None:
    """Return the ``oqs`` module of liboqs-python, or None when it is not installed."""
    try:
        return importlib.import_module("oqs")
    except Exception:  # liboqs-python raises RuntimeError when the shared library is missing
        return None


def _version(distribution: str) -> str | bool:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False


def available_backends() -> dict[str, bool | str]:
    """Report the backends: a version string when installed, False otherwise.

    Keys ``cryptography:<alg>`` say whether the OpenSSL build has that PQ algorithm,
    ``pycryptodome:<alg>`` whether PyCryptodome computes that parameter set's
    derandomised entry points (else kyber-py / dilithium-py do).
    """
    report: dict[str, bool | str] = {
        "cryptography": _version("cryptography"),
        "pycryptodome": pycryptodome_version(),
        "kyber-py": _version("kyber-py"),
        "dilithium-py": _version("dilithium-py"),
        "falcon-digital-signature": _version("falcon-digital-signature"),
        "liboqs-python": _version("liboqs-python") if oqs_module() is not None else False,
    }
    for algorithm in _CRYPTOGRAPHY_PROBES:
        report[f"cryptography:{algorithm}"] = cryptography_supports(algorithm)
    for kem in ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"):
        report[f"pycryptodome:{kem}"] = mlkem_backend(kem) is not None
    for dsa in ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87"):
        report[f"pycryptodome:{dsa}"] = mldsa_backend(dsa) is not None
    return report
