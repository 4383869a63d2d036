"""Deterministic long-term keys and credentials for generated vectors.

Every key comes from a SHAKE128 stream with a fixed label, so ``generate``
reproduces the committed files. The private keys are written into the vector
files (they are test keys), so verification never runs key generation — which
matters for Falcon, whose pure-Python key generation takes ~30 s (512) and
minutes (1024). Both parties of a Falcon vector share one key pair under
different credentials to generate each Falcon size once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pqiot.reference import cbor
from pqiot.reference.credentials import (
    EC2_CRV,
    EC2_X,
    EC2_Y,
    KEY_ALG,
    KEY_KID,
    KEY_KTY,
    KTY_EC2,
    KTY_OKP,
    OKP_CRV,
    OKP_X,
    akp_ccs,
)
from pqiot.reference.crypto import registry
from pqiot.reference.crypto.rng import ShakeRng

__all__ = ["FALCON_ALGS", "KIDS", "ccs_for", "dh_keypair", "signature_keypair"]

FALCON_ALGS = (-65601, -65602)
ED25519, ES256 = -8, -7
X25519_ID, P256_ID = 4, 1
#: One-byte kids exercise the compact ID_CRED_x encoding of RFC 9528 §3.5.3.2.
KIDS = {"initiator": b"\x2b", "responder": b"\x32"}
SUBJECTS = {"initiator": "initiator.vectors.pqiot", "responder": "responder.vectors.pqiot"}


@cache
def signature_keypair(alg: int, role: str) -> tuple[bytes, bytes]:
    """(public key, private key) of ``role`` for signature ``alg``."""
    label = "shared" if alg in FALCON_ALGS else role
    return registry.signature(alg).generate(
        ShakeRng(f"pqiot vectors signature {alg} {label}".encode())
    )


@cache
def dh_keypair(group: int, role: str) -> tuple[bytes, bytes]:
    """(public key, private key) of a static DH key (method 3, check-only suites)."""
    return registry.dh(group).generate(ShakeRng(f"pqiot vectors static-dh {group} {role}".encode()))


def ccs_for(role: str, algorithm: int, public_key: bytes, *, dh: bool = False) -> bytes:
    """CRED_x as a CCS (RFC 8392) with the COSE_Key the key type needs."""
    kid, subject = KIDS[role], SUBJECTS[role]
    if not dh and algorithm not in (ED25519, ES256):
        return akp_ccs(subject, kid, algorithm, public_key).cred
    if (dh and algorithm == X25519_ID) or (not dh and algorithm == ED25519):
        key: dict[Any, Any] = {
            KEY_KTY: KTY_OKP,
            KEY_KID: kid,
            OKP_CRV: 4 if dh else 6,
            OKP_X: public_key,
        }
    elif dh and algorithm == P256_ID:
        key = {KEY_KTY: KTY_EC2, KEY_KID: kid, EC2_CRV: 1, EC2_X: public_key}
    else:  # ES256: the full uncompressed point 04 || x || y
        key = {
            KEY_KTY: KTY_EC2,
            KEY_KID: kid,
            KEY_ALG: ES256,
            EC2_CRV: 1,
            EC2_X: public_key[1:33],
            EC2_Y: public_key[33:65],
        }
    return cbor.encode({2: subject, 8: {1: key}})
