"""OSCORE security context derivation (RFC 8613 §3.2).

Both peers derive the same Sender/Recipient keys and Common IV from a Master
Secret and Master Salt with HKDF; only the roles of the two IDs swap. The
``info`` structure binds each output to its ID, the ID Context, the AEAD
algorithm and its type, so one derivation can never be confused with another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pqiot.reference import cbor
from pqiot.reference.crypto.interfaces import Aead, HashAlgorithm

__all__ = ["SecurityContext", "derive_context", "kdf_info", "max_id_length", "oscore_hkdf_alg"]


#: COSE ids of SHA-256, SHA-384, SHA-512: the hashes HKDF (RFC 5869) is defined with here.
_SHA2_HKDF = frozenset({-16, -43, -44})
_SHAKE256 = -45
_SHA256 = -16


def oscore_hkdf_alg(app_hash_alg: int) -> int:
    """The OSCORE HKDF hash for a suite's application hash: SHA-256 for SHAKE256 suites (D2)."""
    return _SHA256 if app_hash_alg == _SHAKE256 else app_hash_alg


def max_id_length(aead: Aead) -> int:
    """Longest Sender/Recipient ID the nonce construction can hold (nonce length - 6, §3.3)."""
    return aead.nonce_size - 6


def kdf_info(
    identifier: bytes, id_context: bytes | None, alg_aead: int, kind: str, length: int
) -> bytes:
    """The HKDF ``info``: ``[id, id_context / nil, alg_aead, type ("Key"/"IV"), L]`` (§3.2.1)."""
    if kind not in ("Key", "IV"):
        raise ValueError(f"OSCORE info type must be 'Key' or 'IV', got {kind!r}")
    return cbor.encode([identifier, id_context, alg_aead, kind, length])


@dataclass(frozen=True)
class SecurityContext:
    """Immutable part of one endpoint's OSCORE context: Common, Sender and Recipient keys.

    The mutable parts (Sender Sequence Number, replay window) live with the
    protocol objects that use the context, so this object can be shared freely.
    """

    aead: Aead
    hkdf: HashAlgorithm
    sender_id: bytes
    recipient_id: bytes
    id_context: bytes | None
    sender_key: bytes = field(repr=False)
    recipient_key: bytes = field(repr=False)
    common_iv: bytes = field(repr=False)


def derive_context(
    *,
    master_secret: bytes,
    master_salt: bytes,
    sender_id: bytes,
    recipient_id: bytes,
    aead: Aead,
    hkdf: HashAlgorithm,
    id_context: bytes | None = None,
) -> SecurityContext:
    """Derive Sender Key, Recipient Key and Common IV (RFC 8613 §3.2.1).

    ``hkdf`` must be a SHA-2 :class:`HashAlgorithm` (its extract/expand are
    HKDF); an empty ``master_salt`` is the RFC default (HKDF then uses
    HashLen zero bytes). Raises ``ValueError`` on IDs that cannot form a
    unique nonce (§3.3): too long, or equal to each other.
    """
    if hkdf.cose_alg not in _SHA2_HKDF:
        raise ValueError(
            f"OSCORE needs an HKDF-SHA-2 hash, got {hkdf.name}; SHAKE256 suites use "
            "HKDF-SHA-256 (REQ-KEYS-013): pass oscore_hkdf_alg(app_hash) to the registry"
        )
    limit = max_id_length(aead)
    for name, value in (("sender_id", sender_id), ("recipient_id", recipient_id)):
        if len(value) > limit:
            raise ValueError(
                f"{name} is {len(value)} bytes; {aead.name} allows at most {limit} (RFC 8613 §3.3)"
            )
    if sender_id == recipient_id:
        raise ValueError(
            "sender_id and recipient_id must differ (RFC 8613 §3.3); pick distinct IDs"
        )
    prk = hkdf.extract(bytes(master_salt), bytes(master_secret))
    alg = aead.cose_alg

    def expand(identifier: bytes, kind: str, length: int) -> bytes:
        return hkdf.expand(prk, kdf_info(identifier, id_context, alg, kind, length), length)

    return SecurityContext(
        aead=aead,
        hkdf=hkdf,
        sender_id=bytes(sender_id),
        recipient_id=bytes(recipient_id),
        id_context=None if id_context is None else bytes(id_context),
        sender_key=expand(sender_id, "Key", aead.key_size),
        recipient_key=expand(recipient_id, "Key", aead.key_size),
        common_iv=expand(b"", "IV", aead.nonce_size),
    )
