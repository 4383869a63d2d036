"""Authentication credentials: CWT Claims Sets (CCS, RFC 8392) with a COSE_Key.

A credential is what enters the EDHOC transcript as CRED_x, byte for byte, so
the exact encoding is kept (``cred``) next to the parsed fields the protocol
needs (key id, algorithm, raw public key). ID_CRED_x either references it by
``kid`` (allow-list) or carries it by value (``kccs``, TOFU).

:func:`parse_ccs` enforces the shape rules of spec §4.3 (REQ-CRED-001/003/004)
for every credential, provisioned or received, so that a malformed one is a
``decode_error`` before any trust decision is taken. The validity period
(REQ-CRED-008) depends on a clock and is checked by :func:`check_validity`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.cose import HEADER_KCCS, HEADER_KID
from pqiot.reference.errors import Alert, DecodeError, ProtocolError

KeyId = bytes | int

# COSE_Key labels and key types (RFC 9052 §7, RFC 9053, draft-ietf-cose-dilithium).
KEY_KTY = 1
KEY_KID = 2
KEY_ALG = 3
KTY_OKP = 1
KTY_EC2 = 2
KTY_SYMMETRIC = 4
KTY_AKP = 7
OKP_CRV = -1
OKP_X = -2
EC2_CRV = -1
EC2_X = -2
EC2_Y = -3
AKP_PUB = -1
SYMMETRIC_K = -1

# COSE header labels for X.509 credentials (RFC 9360).
HEADER_X5CHAIN = 33
HEADER_X5T = 34
SHA_256_64 = -15  # COSE alg id of SHA-256 truncated to 64 bits, used in x5t

ALG_ES256 = -7

# CWT claim keys (RFC 8392 / RFC 8747).
CLAIM_SUBJECT = 2
CLAIM_EXPIRATION = 4  # exp, NumericDate (RFC 8392 §3.1.4)
CLAIM_NOT_BEFORE = 5  # nbf, NumericDate (RFC 8392 §3.1.5)
CLAIM_CNF = 8
CNF_COSE_KEY = 1

#: REQ-CRED-004: a kid is a byte string of 1 to 16 bytes.
MAX_KID_LENGTH = 16

#: REQ-CRED-003: raw public-key size of each AKP signature algorithm (spec §3.4).
AKP_PUBLIC_KEY_SIZES: dict[int, int] = {
    -48: 1312,  # ML-DSA-44
    -49: 1952,  # ML-DSA-65
    -50: 2592,  # ML-DSA-87
    -65601: 897,  # Falcon-512
    -65602: 1793,  # Falcon-1024
}
#: X25519 / Ed25519 public keys and P-256 coordinates (check-only suites).
_CLASSICAL_COORDINATE_SIZE = 32


@dataclass(frozen=True)
class Credential:
    """One peer credential as the protocol uses it.

    ``cred`` is the exact CRED_x byte string; ``public_key`` is the raw key the
    algorithm consumes (signature public key, or static DH public key for the
    check-only classical methods); ``algorithm`` is the COSE alg id for a
    signature key, or the key-exchange id for a static DH key.
    """

    cred: bytes
    kid: KeyId
    public_key: bytes
    algorithm: int
    subject: str = ""
    x5t: bytes = b""  # SHA-256/64 of the DER certificate, for X.509 credentials only
    not_before: int | None = None  # CCS nbf claim (5), seconds since the epoch
    expires: int | None = None  # CCS exp claim (4), seconds since the epoch

    def id_cred_by_reference(self) -> dict[int, object]:
        """ID_CRED_x = {4: kid} (allow-list), or {34: [-15, hash]} (x5t) for an X.509 credential."""
        if self.x5t:
            return {HEADER_X5T: [SHA_256_64, self.x5t]}
        return {HEADER_KID: self.kid}

    def id_cred_by_value(self) -> dict[int, object]:
        """ID_CRED_x = {14: CCS} (by value; TOFU), or {33: DER} (x5chain) for X.509."""
        if self.x5t:
            return {HEADER_X5CHAIN: cbor.decode(self.cred)}
        return {HEADER_KCCS: cbor.decode(self.cred)}


def akp_ccs(subject: str, kid: KeyId, algorithm: int, public_key: bytes) -> Credential:
    """Build a CCS credential for a post-quantum signature key (COSE kty AKP)."""
    cose_key: dict[CborValue, CborValue] = {
        KEY_KTY: KTY_AKP,
        KEY_KID: kid,
        KEY_ALG: algorithm,
        AKP_PUB: public_key,
    }
    ccs: dict[CborValue, CborValue] = {CLAIM_SUBJECT: subject, CLAIM_CNF: {CNF_COSE_KEY: cose_key}}
    return Credential(cbor.encode(ccs), kid, public_key, algorithm, subject)


def parse_ccs(encoded: bytes) -> Credential:
    """Parse a CCS credential; raise DecodeError when it is not one we can use.

    Supported keys: AKP (ML-DSA, Falcon), OKP (Ed25519 = EdDSA, X25519) and EC2
    P-256 (x-coordinate kept as the raw key, as EDHOC uses it). Spec §4.3:
    a text ``sub`` (REQ-CRED-001), ``cnf`` holding exactly one COSE_Key
    (REQ-CRED-001), a 1..16-byte kid (REQ-CRED-004) and a ``pub`` of its
    alg's size (REQ-CRED-003); integer ``exp``/``nbf`` claims when present.
    """
    value = cbor.decode(encoded)
    if not isinstance(value, dict):
        raise DecodeError("CCS credential must be a CBOR map", "REQ-CRED-001")
    subject = value.get(CLAIM_SUBJECT)
    cnf = value.get(CLAIM_CNF)
    if not isinstance(subject, str) or not isinstance(cnf, dict):
        raise DecodeError(
            "CCS credential needs a text subject (2) and a cnf claim (8)", "REQ-CRED-001"
        )
    key = cnf.get(CNF_COSE_KEY)
    if not isinstance(key, dict) or len(cnf) != 1:
        raise DecodeError("CCS cnf claim must hold exactly one COSE_Key (1)", "REQ-CRED-001")
    kid = key.get(KEY_KID)
    if not isinstance(kid, bytes) or not 1 <= len(kid) <= MAX_KID_LENGTH:
        raise DecodeError(
            f"COSE_Key kid must be a byte string of 1 to {MAX_KID_LENGTH} bytes", "REQ-CRED-004"
        )
    nbf = _numeric_date(value, CLAIM_NOT_BEFORE, "nbf")
    exp = _numeric_date(value, CLAIM_EXPIRATION, "exp")
    kty = key.get(KEY_KTY)
    if kty == KTY_AKP:
        alg, pub = key.get(KEY_ALG), key.get(AKP_PUB)
        if not isinstance(alg, int) or isinstance(alg, bool) or not isinstance(pub, bytes):
            raise DecodeError("AKP COSE_Key needs alg (3) and pub (-1)", "REQ-CRED-002")
        expected = AKP_PUBLIC_KEY_SIZES.get(alg)
        if expected is not None and len(pub) != expected:
            raise DecodeError(
                f"pub of alg {alg} must be {expected} bytes, got {len(pub)}", "REQ-CRED-003"
            )
        return Credential(bytes(encoded), kid, pub, alg, subject, not_before=nbf, expires=exp)
    if kty == KTY_OKP:
        crv, x = key.get(OKP_CRV), key.get(OKP_X)
        if not isinstance(x, bytes) or crv not in (4, 6):
            raise DecodeError("OKP COSE_Key needs crv X25519 (4) or Ed25519 (6) and x (-2)")
        _check_coordinate(x, "OKP x (-2)")
        algorithm = -8 if crv == 6 else 4
        return Credential(bytes(encoded), kid, x, algorithm, subject, not_before=nbf, expires=exp)
    if kty == KTY_EC2:
        crv, x = key.get(EC2_CRV), key.get(EC2_X)
        if crv != 1 or not isinstance(x, bytes):
            raise DecodeError("EC2 COSE_Key must be P-256 (crv 1) with x (-2)")
        _check_coordinate(x, "EC2 x (-2)")
        # Static-DH use (key exchange id 1) and ES256 (-7) share this key type;
        # the alg label, when present, disambiguates. A DH key is used as its
        # x-coordinate (EDHOC compact form); an ES256 key needs the full point.
        alg = key.get(KEY_ALG, 1)
        if not isinstance(alg, int) or isinstance(alg, bool):
            raise DecodeError("EC2 COSE_Key alg must be an integer")
        if alg == ALG_ES256:
            y = key.get(EC2_Y)
            if not isinstance(y, bytes) or len(x) != 32 or len(y) != 32:
                raise DecodeError("an ES256 COSE_Key needs 32-byte x (-2) and y (-3)")
            return Credential(
                bytes(encoded), kid, b"\x04" + x + y, alg, subject, not_before=nbf, expires=exp
            )
        return Credential(bytes(encoded), kid, x, alg, subject, not_before=nbf, expires=exp)
    raise DecodeError(f"unsupported COSE_Key type {kty!r}")


def _numeric_date(ccs: dict[CborValue, CborValue], claim: int, name: str) -> int | None:
    """An optional NumericDate claim as integer seconds (fractions are not used here)."""
    value = ccs.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError(f"CCS {name} claim ({claim}) must be an integer NumericDate")
    return value


def _check_coordinate(value: bytes, what: str) -> None:
    if len(value) != _CLASSICAL_COORDINATE_SIZE:
        raise DecodeError(
            f"{what} must be {_CLASSICAL_COORDINATE_SIZE} bytes, got {len(value)}", "REQ-CRED-003"
        )


def check_validity(credential: Credential, now: float) -> None:
    """REQ-CRED-008: refuse a credential outside its exp/nbf period at ``now`` (POSIX seconds).

    ``now`` must be calendar time (a wall clock), not a monotonic timer value:
    CWT NumericDates count seconds since 1970-01-01T00:00:00Z. The credential
    is valid for ``nbf <= now < exp`` (RFC 8392 §3.1.4/§3.1.5).
    """
    if credential.expires is not None and now >= credential.expires:
        raise ProtocolError(
            Alert.AUTHENTICATION_FAILED,
            f"credential {_kid_text(credential.kid)} expired (exp {credential.expires})",
            "REQ-CRED-008",
        )
    if credential.not_before is not None and now < credential.not_before:
        raise ProtocolError(
            Alert.AUTHENTICATION_FAILED,
            f"credential {_kid_text(credential.kid)} is not valid before {credential.not_before}",
            "REQ-CRED-008",
        )


def _kid_text(kid: KeyId) -> str:
    return kid.hex() if isinstance(kid, bytes) else str(kid)


def x509_credential(der: bytes, public_key: bytes | None = None, algorithm: int = -8) -> Credential:
    """An X.509 certificate as EDHOC credential (RFC 9528 §3.5.2): CRED_x = bstr(DER), by x5t.

    ``public_key`` defaults to the certificate's subject key (Ed25519 and P-256
    certificates are understood); the certificate itself is not validated here.
    """
    der = bytes(der)
    if public_key is None:
        public_key = _certificate_public_key(der)
    digest = hashlib.sha256(der).digest()[:8]
    return Credential(cbor.encode(der), b"", public_key, algorithm, subject="", x5t=digest)


def _certificate_public_key(der: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certificate = x509.load_der_x509_certificate(der)
        key = certificate.public_key()
    except ValueError as exc:
        raise DecodeError(f"not a DER X.509 certificate with a supported key: {exc}") from exc
    try:
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    except (ValueError, TypeError):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
