"""One secure session: an EDHOC-style handshake followed by a record layer.

This is the object every binding drives. The payload a binding carries is
``kind (u8) || body``: kind 0 = handshake message, kind 1 = record (spec
§12, REQ-SER-006, REQ-TCP-001). It is sans-I/O like its parts: payloads and the
current time go in through :meth:`Session.receive`, payloads come out of
:meth:`Session.data_to_send`, and everything the application must know comes
out of :meth:`Session.next_event`. Audit events are written as they happen
when an :class:`~pqiot.reference.audit.AuditLog` is attached.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from pqiot.reference import suites as suite_registry
from pqiot.reference.audit import AuditEvent, AuditLog, Severity
from pqiot.reference.credentials import Credential
from pqiot.reference.crypto.interfaces import Rng
from pqiot.reference.crypto.rng import system_rng
from pqiot.reference.edhoc import events as hs
from pqiot.reference.edhoc.events import OSCORE_SALT_LENGTH
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.key_schedule import (
    EXPORTER_OSCORE_MASTER_SALT,
    EXPORTER_OSCORE_MASTER_SECRET,
    SessionSecrets,
)
from pqiot.reference.edhoc.machine import Input, classify
from pqiot.reference.edhoc.messages import decode_error_message
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.errors import Alert, DecodeError, ProtocolError
from pqiot.reference.records import layer as rl
from pqiot.reference.records.persistence import MemorySequenceStore, SequenceStore
from pqiot.reference.records.record import ContentType
from pqiot.reference.trust import TofuPinning

__all__ = [
    "KIND_HANDSHAKE",
    "KIND_RECORD",
    "ApplicationData",
    "PayloadDropped",
    "Session",
    "SessionEvent",
    "SessionState",
]

KIND_HANDSHAKE = 0x00
KIND_RECORD = 0x01

#: Default time a handshake may take before the session gives up (spec: handshake timeout).
DEFAULT_HANDSHAKE_TIMEOUT = 30.0


class SessionState(enum.Enum):
    HANDSHAKING = "handshaking"
    ESTABLISHED = "established"
    CLOSED = "closed"
    FAILED = "failed"


@dataclass(frozen=True)
class ApplicationData:
    """Authenticated, replay-checked application bytes from the peer."""

    data: bytes


@dataclass(frozen=True)
class PayloadDropped:
    """A payload was discarded without killing the session (e.g. replay, bad tag, early record)."""

    alert: Alert
    detail: str


SessionEvent = hs.Event | rl.Event | ApplicationData | PayloadDropped


class Session:
    """Handshake + records for one peer, over one binding context."""

    def __init__(
        self,
        handshake: Initiator | Responder,
        *,
        store: SequenceStore | None = None,
        binding_context: bytes = b"",
        audit: AuditLog | None = None,
        rng: Rng = system_rng,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    ) -> None:
        self._handshake = handshake
        self._store = store if store is not None else MemorySequenceStore()
        self._binding_context = bytes(binding_context)
        self._audit = audit
        self._rng = rng
        self._handshake_timeout = handshake_timeout
        self._deadline: float | None = None
        self._state = SessionState.HANDSHAKING
        self._records: rl.RecordLayer | None = None
        self._completed: hs.HandshakeCompleted | None = None
        self._secrets: SessionSecrets | None = None
        self._pending_secrets: dict[bytes, SessionSecrets] = {}
        self._outbox: list[bytes] = []
        self._events: deque[SessionEvent] = deque()

    # -- inspection -------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def role(self) -> str:
        """``"initiator"`` or ``"responder"``."""
        return "initiator" if isinstance(self._handshake, Initiator) else "responder"

    @property
    def peer_connection_id(self) -> bytes | None:
        """The peer's connection identifier once known (initiator: C_R from message_2)."""
        if self._completed is not None:
            return self._completed.c_r if self.role == "initiator" else self._completed.c_i
        if isinstance(self._handshake, Initiator):
            return self._handshake.peer_connection_id
        return None

    @property
    def handshake_result(self) -> hs.HandshakeCompleted | None:
        return self._completed

    @property
    def records(self) -> rl.RecordLayer | None:
        return self._records

    @property
    def timer_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, if at all."""
        if self._state is SessionState.HANDSHAKING:
            return self._deadline
        if self._records is not None:
            return self._records.timer_deadline
        return None

    # -- driving ----------------------------------------------------------------

    def start(self, now: float) -> None:
        """Arm the handshake timer; an initiator also emits message_1."""
        self._deadline = now + self._handshake_timeout
        if isinstance(self._handshake, Initiator):
            self._handshake.start(now)
        self._pump_handshake(now)

    def receive(self, payload: bytes, now: float) -> None:
        """Process one binding payload (kind byte + body)."""
        if self._deadline is None:
            self._deadline = now + self._handshake_timeout
        if not payload:
            self._drop(Alert.DECODE_ERROR, "empty payload")
            return
        kind, body = payload[0], bytes(payload[1:])
        if kind == KIND_HANDSHAKE:
            if self._state is SessionState.ESTABLISHED and _is_error_message(body):
                self._on_error_after_handshake(body, now)
                return
            if self._state is not SessionState.HANDSHAKING:
                self._drop(Alert.UNEXPECTED_MESSAGE, "handshake message after the handshake ended")
                return
            self._handshake.receive(body, now)
            self._pump_handshake(now)
        elif kind == KIND_RECORD:
            self._on_record(body, now)
        else:
            self._drop(Alert.DECODE_ERROR, f"unknown payload kind 0x{kind:02x}")

    def send(self, data: bytes, now: float) -> None:
        """Protect application data for the peer (only once the session is established)."""
        records = self._require_established()
        self._queue_record(records.protect(ContentType.APPLICATION_DATA, data))
        self._pump_records(now)

    def update_keys(self, now: float) -> None:
        """Start a key update (EDHOC_KeyUpdate) now, e.g. on operator request."""
        records = self._require_established()
        self._queue_record(records.start_key_update(self._rng, now=now))
        self._pump_records(now)

    def close(self, now: float, alert: Alert | None = None, detail: str = "") -> None:
        """Close the session; an established session tells the peer with a close record."""
        if self._records is not None and not self._records.closed:
            self._queue_record(self._records.close(alert, detail))
            self._pump_records(now)
        self._state = SessionState.CLOSED if alert is None else SessionState.FAILED

    def handle_timer(self, now: float) -> None:
        """Fire expired timers: handshake timeout, key-update timeout."""
        if self._state is SessionState.HANDSHAKING:
            if self._deadline is not None and now >= self._deadline:
                self._state = SessionState.FAILED
                failure = hs.HandshakeFailed(Alert.UNSPECIFIED_ERROR, "handshake timed out")
                self._events.append(failure)
                self._audit_emit(AuditEvent.HANDSHAKE_FAILED, now, detail={"alert": "timeout"})
            return
        if self._records is not None:
            self._records.handle_timer(now)
            self._pump_records(now)

    def data_to_send(self) -> list[bytes]:
        """Payloads (kind byte + body) for the binding to frame and send, in order."""
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> SessionEvent | None:
        return self._events.popleft() if self._events else None

    # -- internals ----------------------------------------------------------------

    def _pump_handshake(self, now: float) -> None:
        for message in self._handshake.data_to_send():
            self._outbox.append(bytes([KIND_HANDSHAKE]) + message)
        while (event := self._handshake.next_event()) is not None:
            self._events.append(event)
            self._on_handshake_event(event, now)

    def _on_handshake_event(self, event: hs.Event, now: float) -> None:
        if isinstance(event, hs.HandshakeCompleted):
            self._establish(event)
            self._audit_emit(
                AuditEvent.HANDSHAKE_COMPLETED,
                now,
                peer=event.peer_credential.kid if event.peer_credential else None,
                suite=event.suite_id,
                detail={"method": event.method},
            )
        elif isinstance(event, hs.PeerCredentialAccepted):
            self._audit_emit(
                AuditEvent.PEER_AUTHENTICATED,
                now,
                peer=event.credential.kid,
                detail={
                    "subject": event.credential.subject,
                    "by_value": event.by_value,
                    "trust": "tofu"
                    if event.by_value and not self._allow_listed(event)
                    else "allow_list",
                },
            )
            if event.by_value:
                self._pin(event.credential, now)
        elif isinstance(event, hs.HandshakeFailed):
            if (
                isinstance(self._handshake, Responder)
                and event.alert is Alert.WRONG_SELECTED_CIPHER_SUITE
            ):
                # We answered ERR_CODE 2 with SUITES_R: the initiator may retry with a
                # new message_1 on the same binding, which a fresh responder serves.
                self._handshake = Responder(self._handshake.config)
                return
            self._state = SessionState.FAILED
            audit = (
                AuditEvent.AUTH_FAILED
                if event.alert
                in (Alert.AUTHENTICATION_FAILED, Alert.UNKNOWN_CREDENTIAL, Alert.TOFU_DISABLED)
                else AuditEvent.HANDSHAKE_FAILED
            )
            self._audit_emit(
                audit, now, detail={"alert": event.alert.value, "reason": event.detail}
            )
        elif isinstance(event, hs.ErrorReceived):
            self._state = SessionState.FAILED
            self._audit_emit(
                AuditEvent.HANDSHAKE_FAILED,
                now,
                detail={"peer_err_code": event.err_code, "peer_err_info": str(event.err_info)},
            )

    def _on_error_after_handshake(self, body: bytes, now: float) -> None:
        """An EDHOC error in DONE (spec §5.11): abort, discard every key, send nothing.

        REQ-HS-022 / REQ-ERR-005: e.g. the Responder could not verify message_3
        that completed the handshake on our side. The error is not answered,
        not even when it is malformed (REQ-HS-023: ``decode_error``, silently).
        """
        try:
            error = decode_error_message(body)
        except DecodeError as exc:
            self._discard_keys()
            failure = hs.HandshakeFailed(exc.alert, exc.detail, exc.requirement)
            self._events.append(failure)
            self._on_handshake_event(failure, now)
            return
        self._discard_keys()
        received = hs.ErrorReceived(error.err_code, error.err_info)
        self._events.append(received)
        self._on_handshake_event(received, now)

    def _discard_keys(self) -> None:
        """Forget the session's secrets and record contexts (REQ-HS-022: discard all keys)."""
        if self._records is not None:
            self._records.abandon()
        self._records = None
        self._secrets = None
        self._pending_secrets.clear()
        self._completed = None
        self._state = SessionState.FAILED

    def _allow_listed(self, event: hs.PeerCredentialAccepted) -> bool:
        """REQ-KS-006: was the by-value credential already allow-listed (not a TOFU use)?"""
        store = self._handshake.config.resolver
        source = getattr(store, "source", None)
        if source is None:
            return False
        return getattr(source(event.credential.kid), "value", None) == "allow_list"

    def _pin(self, credential: Credential, now: float) -> None:
        """Pin a by-value credential the peer just proved (TOFU); the KeyStore audits it."""
        pinning = self._handshake.config.resolver
        if isinstance(pinning, TofuPinning):
            try:
                pinning.confirm(credential, now=now)
            except ProtocolError as exc:
                self._state = SessionState.FAILED
                self._events.append(hs.HandshakeFailed(exc.alert, exc.detail, exc.requirement))

    def _establish(self, completed: hs.HandshakeCompleted) -> None:
        suite = suite_registry.get(completed.suite_id)
        initiator = isinstance(self._handshake, Initiator)
        sender_id, recipient_id = (
            (completed.c_r, completed.c_i) if initiator else (completed.c_i, completed.c_r)
        )
        self._completed = completed
        self._secrets = completed.secrets
        self._records = rl.RecordLayer(
            aead=suite.application_aead(),
            hkdf=suite.application_hash(),
            master_secret=completed.oscore_master_secret(),
            master_salt=completed.oscore_master_salt(),
            sender_id=sender_id,
            recipient_id=recipient_id,
            store=self._store,
            binding_context=self._binding_context,
            derive_next_epoch=self._derive_next_epoch,
        )
        self._state = SessionState.ESTABLISHED

    def _derive_next_epoch(self, nonce: bytes) -> tuple[bytes, bytes]:
        """EDHOC_KeyUpdate(nonce) then the exporter: the next epoch's OSCORE master secret/salt."""
        assert self._secrets is not None and self._completed is not None
        updated = self._secrets.key_update(nonce)
        self._pending_secrets[nonce] = updated
        key_length = suite_registry.get(self._completed.suite_id).application_aead().key_size
        return (
            updated.exporter(EXPORTER_OSCORE_MASTER_SECRET, b"", key_length),
            updated.exporter(EXPORTER_OSCORE_MASTER_SALT, b"", OSCORE_SALT_LENGTH),
        )

    def _on_record(self, body: bytes, now: float) -> None:
        if self._records is None:
            self._drop(Alert.UNEXPECTED_MESSAGE, "record before the handshake completed")
            return
        try:
            content_type, data = self._records.unprotect(body)
        except ProtocolError as exc:
            self._drop(exc.alert, exc.detail)
            self._pump_records(now)
            return
        if content_type is ContentType.APPLICATION_DATA:
            self._events.append(ApplicationData(data))
        self._pump_records(now)

    def _pump_records(self, now: float) -> None:
        records = self._records
        if records is None:
            return
        for record in records.records_to_send():
            self._queue_record(record)
        while (event := records.next_event()) is not None:
            self._events.append(event)
            self._on_record_event(event, now)

    def _on_record_event(self, event: rl.Event, now: float) -> None:
        suite = self._completed.suite_id if self._completed else None
        if isinstance(event, rl.KeyUpdateNeeded):
            assert self._records is not None
            self._queue_record(self._records.start_key_update(self._rng, now=now))
        elif isinstance(event, rl.KeyUpdateCompleted):
            self._secrets = self._pending_secrets.pop(event.nonce, self._secrets)
            self._pending_secrets.clear()
            self._audit_emit(AuditEvent.REKEY, now, suite=suite, detail={"epoch": event.epoch})
        elif isinstance(event, rl.ReplayDropped):
            self._audit_emit(
                AuditEvent.REPLAY_DROPPED,
                now,
                suite=suite,
                detail={"epoch": event.epoch, "sequence_number": event.sequence_number},
            )
        elif isinstance(event, rl.DecryptFailed):
            self._audit_emit(
                AuditEvent.DECRYPT_FAILED,
                now,
                suite=suite,
                detail={"epoch": event.epoch, "failures": event.failures},
            )
        elif isinstance(event, rl.UsageLimitReached):
            self._audit_emit(
                AuditEvent.LIMIT_EXCEEDED,
                now,
                severity=Severity.ERROR,
                suite=suite,
                detail={"epoch": event.epoch, "direction": event.direction},
            )
        elif isinstance(event, rl.SessionClosed):
            self._state = SessionState.CLOSED if event.alert is None else SessionState.FAILED

    def _queue_record(self, record: bytes) -> None:
        self._outbox.append(bytes([KIND_RECORD]) + record)

    def _drop(self, alert: Alert, detail: str) -> None:
        self._events.append(PayloadDropped(alert, detail))

    def _require_established(self) -> rl.RecordLayer:
        if self._state is not SessionState.ESTABLISHED or self._records is None:
            raise ProtocolError(
                Alert.UNEXPECTED_MESSAGE, f"session is {self._state.value}, not established"
            )
        return self._records

    def _audit_emit(
        self,
        event: AuditEvent,
        now: float,
        *,
        severity: Severity | None = None,
        peer: bytes | int | None = None,
        suite: int | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        if self._audit is None:
            return
        if suite is None and self._completed is not None:
            suite = self._completed.suite_id
        self._audit.emit(event, now=now, severity=severity, peer=peer, suite=suite, detail=detail)


def _is_error_message(body: bytes) -> bool:
    """Is ``body`` shaped like an EDHOC error message (two CBOR items, the first an int)?"""
    try:
        return classify(body) is Input.ERROR
    except ProtocolError:
        return False
