"""The COSE structures that get signed or used as AEAD additional data (RFC 9052).

Kept in one place because EDHOC (Signature_or_MAC_2/3, CIPHERTEXT_3), the
record layer (OSCORE AAD) and signed pub/sub messages all build them, and a
one-byte difference between two copies would be a silent interop bug.
"""

from __future__ import annotations

from pqiot.reference import cbor

# COSE header labels (RFC 9052 §3.1) used by the protocol.
HEADER_ALG = 1
HEADER_KID = 4
HEADER_IV = 5
HEADER_KCCS = 14


def sig_structure1(protected: bytes, external_aad: bytes, payload: bytes) -> bytes:
    """``Sig_structure`` for COSE_Sign1: ["Signature1", protected, external_aad, payload]."""
    return cbor.encode(["Signature1", protected, external_aad, payload])


def enc_structure0(protected: bytes, external_aad: bytes) -> bytes:
    """``Enc_structure`` for COSE_Encrypt0: ["Encrypt0", protected, external_aad]."""
    return cbor.encode(["Encrypt0", protected, external_aad])
