"""OSCORE contexts from an EDHOC session (RFC 9528 Appendix A.1).

The Master Secret and Master Salt come from the EDHOC exporter; each side's
Sender ID is the connection identifier its *peer* chose, so both sides derive
mirror-image contexts without sending any more bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from pqiot.reference import cbor
from pqiot.reference.crypto.interfaces import Aead, HashAlgorithm
from pqiot.reference.oscore.context import SecurityContext, derive_context

__all__ = ["MASTER_SALT_LENGTH", "Exporter", "connection_id_to_oscore_id", "contexts_from_edhoc"]

#: ``exporter(label, context, length)`` = EDHOC_Exporter (RFC 9528 §4.2.1).
Exporter = Callable[[int, bytes, int], bytes]

LABEL_MASTER_SECRET = 0
LABEL_MASTER_SALT = 1
MASTER_SALT_LENGTH = 8


def connection_id_to_oscore_id(connection_id: int | bytes) -> bytes:
    """EDHOC C_x as OSCORE ID (RFC 9528 §3.3.2): int -> one-byte CBOR, bstr -> content."""
    if isinstance(connection_id, int):
        if not -24 <= connection_id <= 23:
            raise ValueError(f"integer connection identifiers are -24..23, got {connection_id}")
        return cbor.encode(connection_id)
    return bytes(connection_id)


def contexts_from_edhoc(
    exporter: Exporter,
    *,
    app_aead: Aead,
    app_hkdf: HashAlgorithm,
    c_i: int | bytes,
    c_r: int | bytes,
) -> tuple[SecurityContext, SecurityContext]:
    """Return (initiator context, responder context).

    Initiator: Sender ID = C_R, Recipient ID = C_I; responder the reverse.
    Master Secret = exporter(0, h'', key length of the app AEAD); Master Salt =
    exporter(1, h'', 8). ``app_hkdf`` is the OSCORE HKDF (SHA-256 for SHAKE256 suites, D2).
    """
    master_secret = exporter(LABEL_MASTER_SECRET, b"", app_aead.key_size)
    master_salt = exporter(LABEL_MASTER_SALT, b"", MASTER_SALT_LENGTH)
    id_i = connection_id_to_oscore_id(c_i)
    id_r = connection_id_to_oscore_id(c_r)

    def derive(sender_id: bytes, recipient_id: bytes) -> SecurityContext:
        return derive_context(
            master_secret=master_secret,
            master_salt=master_salt,
            sender_id=sender_id,
            recipient_id=recipient_id,
            aead=app_aead,
            hkdf=app_hkdf,
        )

    return derive(id_r, id_i), derive(id_i, id_r)
