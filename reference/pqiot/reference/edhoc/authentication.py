"""MAC_2/MAC_3 contexts and Signature_or_MAC_2/3 (RFC 9528 §5.3.2, §5.4.2).

Both messages authenticate the same way with different labels and keys, so
the helpers take the pieces and leave "which PRK, which label" to the caller.
"""

from __future__ import annotations

import hmac

from pqiot.reference import cbor
from pqiot.reference.cose import sig_structure1
from pqiot.reference.credentials import Credential
from pqiot.reference.edhoc.wire import IdCred, encode_connection_id
from pqiot.reference.errors import Alert, ProtocolError
from pqiot.reference.suites import METHOD_SIGNATURE, METHOD_STATIC_DH, CipherSuite

__all__ = ["mac_context", "mac_length", "signature_payload", "verify_signature_or_mac"]


def mac_context(
    id_cred: IdCred, th: bytes, cred: bytes, ead: bytes, c_r: bytes | None = None
) -> bytes:
    """context_2 = << C_R, ID_CRED_R, TH_2, CRED_R, ? EAD_2 >> (RFC 9528 §5.3.2),
    context_3 = << ID_CRED_I, TH_3, CRED_I, ? EAD_3 >> (§5.4.2).

    ID_CRED_x is the full header map; ``c_r`` (raw C_R, MAC_2 only) is CBOR-encoded as on the wire.
    """
    prefix = encode_connection_id(c_r) if c_r is not None else b""
    return prefix + cbor.encode(id_cred) + cbor.encode(th) + cred + ead


def mac_length(method: int, suite: CipherSuite, hash_length: int) -> int:
    """Signing party: hash length; static-DH party: the suite's MAC length (RFC 9528 §5.3.2)."""
    return suite.mac_length if method == METHOD_STATIC_DH else hash_length


def signature_payload(id_cred: IdCred, th: bytes, cred: bytes, ead: bytes, mac: bytes) -> bytes:
    """Sig_structure ["Signature1", << ID_CRED_x >>, << TH_x, CRED_x, ? EAD_x >>, MAC_x]."""
    return sig_structure1(cbor.encode(id_cred), cbor.encode(th) + cred + ead, mac)


def check_credential_fits(method: int, suite: CipherSuite, credential: Credential) -> None:
    """The peer's key must be of the kind the method and suite use (signature alg or DH group)."""
    expected = suite.signature_alg if method == METHOD_SIGNATURE else suite.key_exchange
    if credential.algorithm != expected:
        raise ProtocolError(
            Alert.AUTHENTICATION_FAILED,
            f"peer credential is for algorithm {credential.algorithm}, "
            f"suite {suite.id} method {method} needs {expected}",
        )


def verify_signature_or_mac(
    method: int,
    suite: CipherSuite,
    credential: Credential,
    received: bytes,
    expected_mac: bytes,
    payload: bytes,
    what: str,
) -> None:
    """Raise authentication_failed unless ``received`` is the right MAC or a valid signature."""
    if method == METHOD_STATIC_DH:
        if not hmac.compare_digest(received, expected_mac):
            raise ProtocolError(Alert.AUTHENTICATION_FAILED, f"{what} MAC does not verify")
        return
    if not suite.signature().verify(credential.public_key, payload, received):
        raise ProtocolError(Alert.AUTHENTICATION_FAILED, f"{what} signature does not verify")
