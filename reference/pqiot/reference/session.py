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
from pqiot.reference.audit import ALERT_EVENT, AuditEvent, AuditLog, Severity
from pqiot.reference.credentials import Credential, parse_ccs
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
from pqiot.reference.edhoc.machine import Input, State, classify
from pqiot.reference.edhoc.messages import decode_error_message
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.errors import Alert, DecodeError, ProtocolError
from pqiot.reference.records import layer as rl
from pqiot.reference.records.limits import limits_for, lowered
from pqiot.reference.records.persistence import MemorySequenceStore, SequenceStore
from pqiot.reference.records.record import ContentType
from pqiot.reference.suites import METHOD_PSK
from pqiot.reference.tap.peer_errors import peer_alert
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

#: Handshake states by their chapter 5 §5.11 names, as audit ``detail.state`` carries them.
_STATE_NAMES = {
    State.START: "START",
    State.WAIT_MESSAGE_2: "WAIT_M2",
    State.WAIT_MESSAGE_3: "WAIT_M3",
    State.WAIT_MESSAGE_4: "WAIT_M4",
    State.COMPLETED: "DONE",
    State.FAILED: "FAILED",
}
#: The message whose processing a local authentication failure interrupted (§9.2 ``stage``).
_AUTH_STAGES = {"WAIT_M2": "message_2", "WAIT_M3": "message_3", "WAIT_M4": "message_4"}
#: ERR_CODE 2 (wrong_selected_cipher_suite, RFC 9528 §6.3).
_ERR_CODE_SUITES = 2


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
        limit_caps: tuple[int | None, int | None] = (None, None),
    ) -> None:
        self._handshake = handshake
        # REQ-KU-015: locally lowered (q, v), applied to the AEAD the handshake selects.
        self._limit_caps = limit_caps
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
        # Audit bookkeeping (chapter 9): when the handshake began (duration_ms), the
        # §5.11 state an input arrived in (a failure is reported in that state, the
        # machine itself is FAILED by then), the nonces of key updates we started
        # (rekey initiated_by) and whether limit_exceeded was already written.
        self._started: float | None = None
        self._input_state = "START"
        self._local_update_nonces: set[bytes] = set()
        self._limit_audited = False
        self._peer_kid: bytes | int | None = None  # outlives the keys, for later events

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
    def handshake_state(self) -> str:
        """The chapter 5 §5.11 state name: START, WAIT_M2/M3/M4, DONE or FAILED."""
        if self._state is SessionState.ESTABLISHED:
            return "DONE"
        if self._state is not SessionState.HANDSHAKING:
            return "FAILED"
        return _STATE_NAMES[self._handshake.state]

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
        self._started = now
        self._input_state = self.handshake_state
        if isinstance(self._handshake, Initiator):
            self._handshake.start(now)
        self._pump_handshake(now)

    def receive(self, payload: bytes, now: float) -> None:
        """Process one binding payload (kind byte + body)."""
        if self._deadline is None:
            self._deadline = now + self._handshake_timeout
        if self._started is None:
            self._started = now
        if not payload:
            self._drop(Alert.DECODE_ERROR, "empty payload")
            return
        kind, body = payload[0], bytes(payload[1:])
        if kind == KIND_HANDSHAKE:
            self._input_state = self.handshake_state
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
        try:
            self._queue_record(records.protect(ContentType.APPLICATION_DATA, data))
        finally:
            # usage_limit_reached (REQ-KU-011): the layer made a close record before raising.
            self._pump_records(now)

    def update_keys(self, now: float) -> None:
        """Start a key update (EDHOC_KeyUpdate) now, e.g. on operator request."""
        records = self._require_established()
        try:
            self._queue_record(records.start_key_update(self._rng, now=now))
        finally:
            self._pump_records(now)

    def close(self, now: float, alert: Alert | None = None, detail: str = "") -> None:
        """Close the session; an established session tells the peer with a close record.

        Closing a session that already ended changes nothing (its state and audit stay).
        """
        if self._state in (SessionState.CLOSED, SessionState.FAILED):
            return
        if self._records is not None and not self._records.closed:
            self._queue_record(self._records.close(alert, detail))
            self._pump_records(now)  # audits the close through rl.SessionClosed
        elif alert is not None:  # aborted mid-handshake: nothing to send (no keys yet)
            self._audit_alert(alert, "local", self.handshake_state, now)
        self._state = SessionState.CLOSED if alert is None else SessionState.FAILED

    def handle_timer(self, now: float) -> None:
        """Fire expired timers: handshake state timer, key-update timeout.

        State timer (REQ-HS-037): FAILED, nothing sent, ``handshake_failed`` with
        ``unspecified_error`` (§10.2: no other alert describes a timeout) and
        ``reason: timeout`` (§5.11 "detail timeout"). Key-update timeout
        (REQ-KU-006): the close record with ``key_update_failed`` goes out, the
        session is FAILED and audited like every alert; nothing is raised.
        """
        if self._state is SessionState.HANDSHAKING:
            if self._deadline is not None and now >= self._deadline:
                state = self.handshake_state
                self._state = SessionState.FAILED
                failure = hs.HandshakeFailed(Alert.UNSPECIFIED_ERROR, "timeout", "REQ-HS-037")
                self._events.append(failure)
                self._audit_alert(Alert.UNSPECIFIED_ERROR, "local", state, now, reason="timeout")
            return
        records = self._records
        if records is None or self._state is not SessionState.ESTABLISHED:
            return
        try:
            records.handle_timer(now)
        except ProtocolError as exc:
            # The layer queued its close record and reported SessionClosed before
            # raising; only a layer that is somehow still open needs closing here.
            if not records.closed:
                self._queue_record(records.close(exc.alert, exc.detail))
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
        batch: list[hs.Event] = []
        while (event := self._handshake.next_event()) is not None:
            batch.append(event)
        # peer_authenticated precedes handshake_completed but names the same suite.
        suite = next((e.suite_id for e in batch if isinstance(e, hs.HandshakeCompleted)), None)
        previous: hs.Event | None = None
        for event in batch:
            self._events.append(event)
            self._on_handshake_event(event, now, previous=previous, suite=suite)
            previous = event

    def _on_handshake_event(
        self,
        event: hs.Event,
        now: float,
        *,
        previous: hs.Event | None = None,
        suite: int | None = None,
    ) -> None:
        if isinstance(event, hs.HandshakeCompleted):
            self._establish(event)
            if event.peer_credential is None:  # PSK method: the PSK proof authenticated
                self._audit_psk_peer(event, now)
            self._audit_emit(
                AuditEvent.HANDSHAKE_COMPLETED,
                now,
                peer=event.peer_credential.kid if event.peer_credential else None,
                suite=event.suite_id,
                detail={
                    "role": self.role,
                    "method": event.method,
                    "c_i": event.c_i.hex(),
                    "c_r": event.c_r.hex(),
                    "duration_ms": self._duration_ms(now),
                },
            )
        elif isinstance(event, hs.PeerCredentialAccepted):
            self._peer_kid = event.credential.kid
            tofu = event.by_value and not self._allow_listed(event)
            self._audit_emit(
                AuditEvent.PEER_AUTHENTICATED,
                now,
                severity=Severity.WARNING if tofu else Severity.INFO,
                peer=event.credential.kid,
                suite=suite,
                detail={
                    "role": self.role,
                    "method": self._handshake.config.method,
                    "trust": "tofu" if tofu else "allow-list",
                    "sub": event.credential.subject,
                },
            )
            if event.by_value:
                self._pin(event.credential, now)
        elif isinstance(event, hs.HandshakeFailed):
            self._on_handshake_failed(event, now, previous)
        elif isinstance(event, hs.ErrorReceived):
            self._state = SessionState.FAILED
            alert = peer_alert(event.err_code, event.err_info)
            self._audit_alert(alert, "peer", self._input_state, now, err_code=event.err_code)

    def _on_handshake_failed(
        self, event: hs.HandshakeFailed, now: float, previous: hs.Event | None
    ) -> None:
        """Audit a failed handshake once, with the alert's origin (REQ-ERR-006)."""
        if isinstance(previous, hs.ErrorReceived):
            # The machine follows a received error with its own HandshakeFailed: the
            # ErrorReceived already wrote the event, with the peer's alert.
            self._state = SessionState.FAILED
            return
        received_suites = isinstance(previous, hs.SuitesRejected)
        self._audit_alert(
            event.alert,
            "peer" if received_suites else "local",
            self._input_state,
            now,
            err_code=_ERR_CODE_SUITES if received_suites else None,
        )
        if (
            isinstance(self._handshake, Responder)
            and event.alert is Alert.WRONG_SELECTED_CIPHER_SUITE
        ):
            # We answered ERR_CODE 2 with SUITES_R: the initiator may retry with a
            # new message_1 on the same binding, which a fresh responder serves.
            self._handshake = Responder(self._handshake.config)
            return
        self._state = SessionState.FAILED

    def _audit_psk_peer(self, completed: hs.HandshakeCompleted, now: float) -> None:
        """peer_authenticated for the PSK method (the PSK proof verified, §9.2)."""
        config = self._handshake.config
        if config.method != METHOD_PSK:
            return
        resumption = config.psk is not None and config.psk.suite is not None
        peer_cred = completed.cred_r if self.role == "initiator" else completed.cred_i
        try:
            sub: str | None = parse_ccs(peer_cred).subject
        except ProtocolError:
            sub = None
        self._audit_emit(
            AuditEvent.PEER_AUTHENTICATED,
            now,
            suite=completed.suite_id,
            detail={
                "role": self.role,
                "method": completed.method,
                "trust": "resumption" if resumption else "psk",
                "sub": sub,
            },
        )

    def _duration_ms(self, now: float) -> int:
        started = now if self._started is None else self._started
        return max(0, round((now - started) * 1000))

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
                self._audit_alert(exc.alert, "local", self._input_state, now)

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
            limits=lowered(limits_for(suite.application_aead().cose_alg), *self._limit_caps),
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
        elif isinstance(event, rl.KeyUpdateStarted):
            self._local_update_nonces.add(event.nonce)
        elif isinstance(event, rl.KeyUpdateCompleted):
            self._secrets = self._pending_secrets.pop(event.nonce, self._secrets)
            self._pending_secrets.clear()
            local = event.nonce in self._local_update_nonces
            self._local_update_nonces.clear()
            self._audit_emit(
                AuditEvent.REKEY,
                now,
                suite=suite,
                detail={"epoch": event.epoch, "initiated_by": "local" if local else "peer"},
            )
        elif isinstance(event, rl.ReplayDropped):
            self._audit_emit(
                AuditEvent.REPLAY_DROPPED,
                now,
                suite=suite,
                detail={"context": "record", "piv": event.sequence_number, "reason": "window"},
            )
        elif isinstance(event, rl.DecryptFailed):
            self._audit_emit(
                AuditEvent.DECRYPT_FAILED,
                now,
                suite=suite,
                detail={"context": "record", "count_v": event.failures, "reason": event.detail},
            )
        elif isinstance(event, rl.UsageLimitReached):
            self._audit_limit("q" if event.direction == "send" else "v", now)
        elif isinstance(event, rl.SessionClosed):
            self._state = SessionState.CLOSED if event.alert is None else SessionState.FAILED
            if event.alert is Alert.USAGE_LIMIT_REACHED and event.origin == "local":
                # §10.2: our own usage limit is limit_exceeded; the only path without
                # a UsageLimitReached first is a recipient restored at limit_v.
                if not self._limit_audited:
                    self._audit_limit("v", now)
            elif event.alert is not None:
                self._audit_alert(event.alert, event.origin, "DONE", now)

    def _audit_limit(self, limit: str, now: float) -> None:
        """limit_exceeded for count_q / count_v reaching limit_q / limit_v (REQ-KU-011/012)."""
        assert self._records is not None
        limits = self._records.limits
        self._limit_audited = True
        self._audit_emit(
            AuditEvent.LIMIT_EXCEEDED,
            now,
            detail={"limit": limit, "value": limits.q if limit == "q" else limits.v},
        )

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

    def _audit_alert(
        self,
        alert: Alert,
        origin: str,
        state: str,
        now: float,
        *,
        err_code: int | None = None,
        reason: str | None = None,
    ) -> None:
        """The §10.2 "audit" event of an alert raised (``local``) or received (``peer``).

        REQ-ERR-006 / REQ-AUDIT-005. Fields are those of §9.2; ``auth_failed`` and a
        handshake ``decrypt_failed`` also carry ``origin`` (and ``err_code`` when the
        alert came in an EDHOC error message), because both directions produce them.
        ``limit_exceeded``/``replay_dropped`` come from the record layer's own events,
        so an alert of theirs ending a handshake or session is a ``handshake_failed``.
        """
        event = ALERT_EVENT[alert]
        detail: dict[str, object]
        if event is AuditEvent.AUTH_FAILED:
            detail = {"alert": alert.value, "stage": self._auth_stage(origin, state)}
            detail["origin"] = origin
        elif event is AuditEvent.DECRYPT_FAILED:
            detail = {"context": "handshake", "origin": origin}
        else:
            event = AuditEvent.HANDSHAKE_FAILED
            detail = {"alert": alert.value, "origin": origin, "state": state}
        if err_code is not None:
            detail["err_code"] = err_code
        if reason is not None:
            detail["reason"] = reason
        self._audit_emit(event, now, peer=self._peer_kid, detail=detail)

    def _auth_stage(self, origin: str, state: str) -> str:
        """§9.2 ``stage``: the message whose credential or proof was refused."""
        initiator = self.role == "initiator"
        if origin == "local":
            return _AUTH_STAGES.get(state, "message_2" if initiator else "message_3")
        # The peer refused what we sent: message_3 (initiator); the responder's
        # message_4 once it is DONE with message_4 in use, message_2 otherwise.
        if initiator:
            return "message_3"
        done_with_m4 = state == "DONE" and self._handshake.config.expects_message_4
        return "message_4" if done_with_m4 else "message_2"

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
        if peer is None:
            peer = self._peer_kid
        self._audit.emit(event, now=now, severity=severity, peer=peer, suite=suite, detail=detail)


def _is_error_message(body: bytes) -> bool:
    """Is ``body`` shaped like an EDHOC error message (two CBOR items, the first an int)?"""
    try:
        return classify(body) is Input.ERROR
    except ProtocolError:
        return False
