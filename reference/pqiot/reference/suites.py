"""The PQC-IIoT cipher suite registry (design decision D2), kept as data.

A suite is the EDHOC 7-tuple of RFC 9528 §3.6 plus a name and a status. The
algorithm objects are fetched from :mod:`pqiot.reference.crypto.registry`
only when asked for, so listing suites (``pqiot suites --json``) never imports
a crypto backend. Suite ids below -24 are provisional PQC-IIoT code points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pqiot.reference.crypto.interfaces import (
    Aead,
    DiffieHellman,
    HashAlgorithm,
    Kem,
    SignatureScheme,
)

__all__ = ["DEFAULT_SUITE", "CipherSuite", "all_suites", "get"]

Status = Literal["standard", "experimental", "check-only"]

#: EDHOC key-exchange ids of classical DH groups (P-256, X25519); all others are KEMs.
CLASSICAL_KEY_EXCHANGES = frozenset({1, 4})

#: EDHOC authentication methods (RFC 9528 §3.2; 4 = PSK, draft-ietf-lake-edhoc-psk).
METHOD_SIGNATURE = 0
METHOD_STATIC_DH = 3
METHOD_PSK = 4

DEFAULT_SUITE = -102


@dataclass(frozen=True)
class CipherSuite:
    """One EDHOC cipher suite, the 7-tuple of RFC 9528 §3.6 plus id, name and status."""

    id: int
    name: str
    edhoc_aead: int
    edhoc_hash: int
    mac_length: int
    key_exchange: int
    signature_alg: int
    app_aead: int
    app_hash: int
    status: Status

    @property
    def is_kem(self) -> bool:
        """True when G_X/G_Y carry a KEM key / ciphertext (draft-spm-lake-pqsuites)."""
        return self.key_exchange not in CLASSICAL_KEY_EXCHANGES

    @property
    def allowed_methods(self) -> frozenset[int]:
        """Methods this suite may run with (D3): KEM suites forbid the static-DH methods 1-3."""
        if self.is_kem:
            return frozenset({METHOD_SIGNATURE, METHOD_PSK})
        return frozenset({METHOD_SIGNATURE, METHOD_STATIC_DH})

    def kem(self) -> Kem:
        from pqiot.reference.crypto import registry

        return registry.kem(self.key_exchange)

    def dh(self) -> DiffieHellman:
        """The DH group of a classical suite (raises UnsupportedAlgorithm for KEM suites)."""
        from pqiot.reference.crypto import registry

        return registry.dh(self.key_exchange)

    def signature(self) -> SignatureScheme:
        from pqiot.reference.crypto import registry

        return registry.signature(self.signature_alg)

    def aead(self) -> Aead:
        """The EDHOC AEAD (message_3 / message_4)."""
        from pqiot.reference.crypto import registry

        return registry.aead(self.edhoc_aead)

    def hash(self) -> HashAlgorithm:
        """The EDHOC hash with its Extract/Expand pair."""
        from pqiot.reference.crypto import registry

        return registry.hash_algorithm(self.edhoc_hash)

    def application_aead(self) -> Aead:
        from pqiot.reference.crypto import registry

        return registry.aead(self.app_aead)

    def application_hash(self) -> HashAlgorithm:
        from pqiot.reference.crypto import registry

        return registry.hash_algorithm(self.app_hash)

    def to_json(self) -> dict[str, object]:
        """Plain-data view (what ``pqiot suites --json`` prints)."""
        return {
            "id": self.id,
            "name": self.name,
            "edhoc_aead": self.edhoc_aead,
            "edhoc_hash": self.edhoc_hash,
            "mac_length": self.mac_length,
            "key_exchange": self.key_exchange,
            "signature_alg": self.signature_alg,
            "app_aead": self.app_aead,
            "app_hash": self.app_hash,
            "status": self.status,
            "methods": sorted(self.allowed_methods),
            "default": self.id == DEFAULT_SUITE,
        }


# COSE / EDHOC identifiers used in the table (D2).
_CCM8, _GCM256, _CHACHA = 10, 3, 24
_SHA256, _SHA384, _SHAKE256 = -16, -43, -45
_P256, _X25519 = 1, 4
_MLKEM512, _MLKEM768, _MLKEM1024, _X25519_MLKEM768 = -65701, -65702, -65703, -65704
_EDDSA, _ES256 = -8, -7
_MLDSA44, _MLDSA65, _MLDSA87 = -48, -49, -50
_FALCON512, _FALCON1024 = -65601, -65602

_SUITES: tuple[CipherSuite, ...] = (
    CipherSuite(0, "EDHOC-0", _CCM8, _SHA256, 8, _X25519, _EDDSA, _CCM8, _SHA256, "check-only"),
    CipherSuite(2, "EDHOC-2", _CCM8, _SHA256, 8, _P256, _ES256, _CCM8, _SHA256, "check-only"),
    CipherSuite(
        -101,
        "MLKEM512-MLDSA44-CCM8-SHA256",
        _CCM8,
        _SHA256,
        16,
        _MLKEM512,
        _MLDSA44,
        _CCM8,
        _SHA256,
        "standard",
    ),
    CipherSuite(
        -102,
        "MLKEM768-MLDSA44-A256GCM-SHA256",
        _GCM256,
        _SHA256,
        16,
        _MLKEM768,
        _MLDSA44,
        _GCM256,
        _SHA256,
        "standard",
    ),
    CipherSuite(
        -103,
        "MLKEM768-MLDSA65-A256GCM-SHA384",
        _GCM256,
        _SHA384,
        16,
        _MLKEM768,
        _MLDSA65,
        _GCM256,
        _SHA384,
        "standard",
    ),
    CipherSuite(
        -104,
        "MLKEM1024-MLDSA87-A256GCM-SHA384",
        _GCM256,
        _SHA384,
        16,
        _MLKEM1024,
        _MLDSA87,
        _GCM256,
        _SHA384,
        "standard",
    ),
    CipherSuite(
        -105,
        "MLKEM768-MLDSA44-CHACHAPOLY-SHA256",
        _CHACHA,
        _SHA256,
        16,
        _MLKEM768,
        _MLDSA44,
        _CHACHA,
        _SHA256,
        "standard",
    ),
    # SHAKE256 suite: EDHOC uses SHAKE256/KMAC256, OSCORE keeps HKDF-SHA-256 (D2).
    CipherSuite(
        -106,
        "MLKEM768-MLDSA44-A256GCM-SHAKE256",
        _GCM256,
        _SHAKE256,
        16,
        _MLKEM768,
        _MLDSA44,
        _GCM256,
        _SHA256,
        "standard",
    ),
    CipherSuite(
        -107,
        "X25519MLKEM768-MLDSA65-A256GCM-SHA256",
        _GCM256,
        _SHA256,
        16,
        _X25519_MLKEM768,
        _MLDSA65,
        _GCM256,
        _SHA256,
        "experimental",
    ),
    CipherSuite(
        -108,
        "MLKEM512-FALCON512-CCM8-SHA256",
        _CCM8,
        _SHA256,
        16,
        _MLKEM512,
        _FALCON512,
        _CCM8,
        _SHA256,
        "experimental",
    ),
    CipherSuite(
        -109,
        "MLKEM768-FALCON512-A256GCM-SHA256",
        _GCM256,
        _SHA256,
        16,
        _MLKEM768,
        _FALCON512,
        _GCM256,
        _SHA256,
        "experimental",
    ),
    CipherSuite(
        -110,
        "MLKEM1024-FALCON1024-A256GCM-SHA384",
        _GCM256,
        _SHA384,
        16,
        _MLKEM1024,
        _FALCON1024,
        _GCM256,
        _SHA384,
        "experimental",
    ),
)

_BY_ID = {suite.id: suite for suite in _SUITES}


def get(suite_id: int) -> CipherSuite:
    """The suite with this id; the KeyError lists the known ids so the caller can fix it."""
    try:
        return _BY_ID[suite_id]
    except KeyError:
        known = ", ".join(str(s.id) for s in _SUITES)
        raise KeyError(f"unknown cipher suite {suite_id}; known suites: {known}") from None


def all_suites() -> tuple[CipherSuite, ...]:
    """Every registered suite, in table order."""
    return _SUITES
