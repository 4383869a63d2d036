"""What a handshake reports to its owner (aioquic-style events, popped with ``next_event()``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pqiot.reference.cbor import CborValue
from pqiot.reference.credentials import Credential
from pqiot.reference.edhoc.key_schedule import (
    EXPORTER_OSCORE_MASTER_SALT,
    EXPORTER_OSCORE_MASTER_SECRET,
    EXPORTER_RESUMPTION_KID,
    EXPORTER_RESUMPTION_PSK,
    SessionSecrets,
)
from pqiot.reference.edhoc.psk import PskEntry
from pqiot.reference.edhoc.wire import EadItem
from pqiot.reference.errors import Alert

__all__ = [
    "ErrorReceived",
    "Event",
    "HandshakeCompleted",
    "HandshakeFailed",
    "PeerCredentialAccepted",
    "SuitesRejected",
]

#: OSCORE Master Salt length (RFC 9528 App. A.1).
OSCORE_SALT_LENGTH = 8
#: rKID length (draft-ietf-lake-edhoc-psk §6: id_cred_psk_length defaults to 2 bytes).
RESUMPTION_KID_LENGTH = 2


@dataclass(frozen=True)
class HandshakeCompleted:
    """The session keys are ready; ``secrets`` gives a Session the exporter and key update."""

    suite_id: int
    method: int
    c_i: bytes
    c_r: bytes
    peer_credential: Credential | None  # None in the PSK method (the PSK authenticates)
    secrets: SessionSecrets = field(repr=False)
    cred_i: bytes = field(repr=False, default=b"")
    cred_r: bytes = field(repr=False, default=b"")
    app_key_length: int = 16
    edhoc_key_length: int = 16
    ead_received: tuple[EadItem, ...] = ()

    @property
    def prk_out(self) -> bytes:
        return self.secrets.prk_out

    @property
    def prk_exporter(self) -> bytes:
        return self.secrets.prk_exporter

    def exporter(self, label: int, context: bytes, length: int) -> bytes:
        return self.secrets.exporter(label, context, length)

    def key_update(self, context: bytes) -> SessionSecrets:
        return self.secrets.key_update(context)

    def oscore_master_secret(self) -> bytes:
        """D3 / RFC 9528 App. A.1: EDHOC_Exporter(0, h'', key length of the application AEAD)."""
        return self.exporter(EXPORTER_OSCORE_MASTER_SECRET, b"", self.app_key_length)

    def oscore_master_salt(self) -> bytes:
        return self.exporter(EXPORTER_OSCORE_MASTER_SALT, b"", OSCORE_SALT_LENGTH)

    def resumption_psk(self) -> PskEntry:
        """rPSK / rID_CRED_PSK for the next session (draft-ietf-lake-edhoc-psk §6)."""
        rpsk = self.exporter(EXPORTER_RESUMPTION_PSK, b"", self.edhoc_key_length)
        rkid = self.exporter(EXPORTER_RESUMPTION_KID, b"", RESUMPTION_KID_LENGTH)
        return PskEntry({4: rkid}, rpsk, self.cred_i, self.cred_r, suite=self.suite_id)


@dataclass(frozen=True)
class HandshakeFailed:
    """We aborted the handshake (and sent an EDHOC error message where RFC 9528 says so)."""

    alert: Alert
    detail: str = ""
    requirement: str | None = None


@dataclass(frozen=True)
class ErrorReceived:
    """The peer sent an EDHOC error message (ERR_CODE 1 or 3); the handshake is over."""

    err_code: int
    err_info: CborValue


@dataclass(frozen=True)
class SuitesRejected:
    """The responder rejected our selected suite (ERR_CODE 2); the initiator retries when it can."""

    suites_r: tuple[int, ...]


@dataclass(frozen=True)
class PeerCredentialAccepted:
    """The peer proved possession of this credential; ``by_value`` marks a TOFU-style acceptance."""

    credential: Credential
    by_value: bool


Event = (
    HandshakeCompleted | HandshakeFailed | ErrorReceived | SuitesRejected | PeerCredentialAccepted
)
