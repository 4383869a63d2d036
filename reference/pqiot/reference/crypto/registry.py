"""Algorithm lookup by COSE / EDHOC identifier (design decision D2).

Protocol code asks for ``kem(-65702)`` or ``signature(-48)`` and never imports
a backend module itself. Entries are resolved lazily so that importing the
registry does not import every backend (Falcon pulls in numpy).
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, cast

from pqiot.reference.crypto.interfaces import (
    Aead,
    DiffieHellman,
    HashAlgorithm,
    Kem,
    SignatureScheme,
)
from pqiot.reference.errors import UnsupportedAlgorithm

__all__ = ["aead", "dh", "hash_algorithm", "kem", "known_identifiers", "signature"]

_PACKAGE = "pqiot.reference.crypto"

_KEMS: dict[int, tuple[str, str]] = {
    -65701: ("mlkem", "MLKEM512"),
    -65702: ("mlkem", "MLKEM768"),
    -65703: ("mlkem", "MLKEM1024"),
    -65704: ("hybrid", "X25519_MLKEM768"),
}
_DH: dict[int, tuple[str, str]] = {1: ("ecc", "P256"), 4: ("ecc", "X25519")}
_SIGNATURES: dict[int, tuple[str, str]] = {
    -7: ("ecc", "ES256"),
    -8: ("ecc", "ED25519"),
    -48: ("mldsa", "MLDSA44"),
    -49: ("mldsa", "MLDSA65"),
    -50: ("mldsa", "MLDSA87"),
    -65601: ("falcon", "FALCON512"),
    -65602: ("falcon", "FALCON1024"),
}
_AEADS: dict[int, tuple[str, str]] = {
    1: ("aead", "A128GCM"),
    3: ("aead", "A256GCM"),
    10: ("aead", "AES_CCM_16_64_128"),
    24: ("aead", "CHACHA20_POLY1305"),
    30: ("aead", "AES_CCM_16_128_128"),
}
_HASHES: dict[int, tuple[str, str]] = {
    -16: ("hashes", "SHA256"),
    -43: ("hashes", "SHA384"),
    -45: ("hashes", "SHAKE256"),
}


def _resolve(table: dict[int, tuple[str, str]], identifier: int, kind: str) -> Any:
    entry = table.get(identifier)
    if entry is None:
        known = ", ".join(str(i) for i in sorted(table))
        raise UnsupportedAlgorithm(
            f"no {kind} with identifier {identifier}; supported identifiers: {known}"
        )
    module_name, attribute = entry
    try:
        return _load(module_name, attribute)
    except ImportError as exc:
        raise UnsupportedAlgorithm(
            f"{kind} {identifier} needs a backend that failed to import ({exc}); "
            "install the pqiot dependencies"
        ) from exc


@functools.cache
def _load(module_name: str, attribute: str) -> Any:
    """Import lazily, once: a handshake looks its algorithms up a few dozen times."""
    return getattr(importlib.import_module(f"{_PACKAGE}.{module_name}"), attribute)


def kem(identifier: int) -> Kem:
    """KEM by EDHOC key-exchange id; classical groups (1, 4) come as :class:`~.ecc.DhAsKem`."""
    if identifier in _DH:
        from pqiot.reference.crypto.ecc import DhAsKem

        return DhAsKem(dh(identifier))
    return cast(Kem, _resolve(_KEMS, identifier, "KEM"))


def dh(identifier: int) -> DiffieHellman:
    """Diffie-Hellman group by EDHOC key-exchange id (1 = P-256, 4 = X25519)."""
    return cast(DiffieHellman, _resolve(_DH, identifier, "Diffie-Hellman group"))


def signature(cose_alg: int) -> SignatureScheme:
    """Signature scheme by COSE alg id."""
    return cast(SignatureScheme, _resolve(_SIGNATURES, cose_alg, "signature algorithm"))


def aead(cose_alg: int) -> Aead:
    """AEAD by COSE alg id."""
    return cast(Aead, _resolve(_AEADS, cose_alg, "AEAD algorithm"))


def hash_algorithm(cose_alg: int) -> HashAlgorithm:
    """EDHOC hash (with its Extract/Expand) by COSE alg id."""
    return cast(HashAlgorithm, _resolve(_HASHES, cose_alg, "hash algorithm"))


def known_identifiers() -> dict[str, list[int]]:
    """Every identifier the registry knows, per kind (for conformance statements)."""
    return {
        "kem": sorted([*_KEMS, *_DH]),
        "dh": sorted(_DH),
        "signature": sorted(_SIGNATURES),
        "aead": sorted(_AEADS),
        "hash": sorted(_HASHES),
    }
