"""TAP protocol-role commands (80-89) driving the production :class:`Session` (REQ-TAP-013).

The agent owns credentials loaded with CRED_LOAD and a table of sessions. Every
handshake message and record passes through the same ``Session`` a binding
uses; only the byte transport differs (``transport = "tap"``: messages travel
in ``out`` and SESSION_DELIVER; ``"link"``: on a TCP connection of their own,
:mod:`pqiot.reference.tap.links`). Optional randomness arguments (``kem_seed``,
``kem_m``, ``x25519_eph``, ``sig_rnd``, ``c_id``, KEY_UPDATE ``nonce``) are fed through a
scripted RNG so that the messages are byte-identical to a reference run with
the same inputs (REQ-TAP-014).

Every protocol alert, whether a handler raised it or a session event reported
it, is answered with status 7 and one of the fourteen alert names
(REQ-TAP-013, REQ-ERR-001). Session timers run on the driver's clock before
every command (:meth:`RoleDriver.run_timers`), so expiry is observable.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pqiot.reference import cbor
from pqiot.reference.audit import AuditLog
from pqiot.reference.cbor import CborValue
from pqiot.reference.credentials import Credential, parse_ccs
from pqiot.reference.crypto.rng import system_rng
from pqiot.reference.edhoc import events as hs
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.key_schedule import SessionSecrets
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.errors import Alert, CryptoError, DecodeError, ProtocolError
from pqiot.reference.keystore import KeyStore, KeyStoreError
from pqiot.reference.records import layer as rl
from pqiot.reference.records.limits import MIN_CONFIGURED_Q
from pqiot.reference.records.record import ContentType
from pqiot.reference.session import (
    KIND_HANDSHAKE,
    KIND_RECORD,
    ApplicationData,
    PayloadDropped,
    Session,
    SessionEvent,
    SessionState,
)
from pqiot.reference.software_provider import ProviderError, SoftwareSecurityProvider
from pqiot.reference.suites import METHOD_SIGNATURE
from pqiot.reference.tap.arguments import AgentFailure, Arguments
from pqiot.reference.tap.codes import Command, Status
from pqiot.reference.tap.expected_peer import ExpectedPeerResolver
from pqiot.reference.tap.expiry import Expiry, fire_timers
from pqiot.reference.tap.links import (
    LinkRequest,
    link_report,
    link_request,
    state_timer,
)
from pqiot.reference.tap.peer_errors import peer_alert
from pqiot.reference.trust import kid_bytes

if TYPE_CHECKING:
    from pqiot.transports.tcp_link import LinkLoop, TcpSessionLink

__all__ = ["DEFAULT_SUITES", "MAX_SESSIONS", "WAIT_M3_BOUND", "RoleDriver", "ScriptedRng"]

#: Sessions the agent holds at once; more is status 8 (busy). Larger than the WAIT_M3
#: bound, so that the protocol's own busy answer (REQ-HS-036) is reachable through TAP.
MAX_SESSIONS = 16
#: REQ-HS-036: Responder sessions that may wait for message_3 at once (the default 8).
WAIT_M3_BOUND = 8
_RECORD_OVERHEAD = 64
#: SESSION_START without ``suites``: the default policy of REQ-SUITE-003 for both roles.
DEFAULT_SUITES = (-102,)
#: Records of a ``transport: "tap"`` session are bound like TCP's: binding_context h'' (§13.5).
TAP_BINDING_CONTEXT = b""
_HANDSHAKE_STATES = {
    "start": "START",
    "wait_message_2": "WAIT_M2",
    "wait_message_3": "WAIT_M3",
    "wait_message_4": "WAIT_M4",
}


class ScriptedRng:
    """Serve queued byte strings to draws of exactly their length, the system RNG otherwise.

    Why exact lengths: the handshake draws a one-byte C_x and a 64-byte ML-KEM seed
    (or 32-byte ``m``) in an order fixed by the code; matching by length lets a
    test fix one of them without knowing the order of the others.
    """

    def __init__(self) -> None:
        self._queue: deque[bytes] = deque()

    def push(self, value: bytes) -> None:
        self._queue.append(bytes(value))

    def __call__(self, n: int) -> bytes:
        for index, value in enumerate(self._queue):
            if len(value) == n:
                del self._queue[index]
                return value
        return system_rng(n)


@dataclass
class _OwnCredential:
    credential: Credential
    secret: bytes = field(repr=False)


@dataclass
class _AgentSession:
    role: str
    method: int
    session: Session
    handshake: Initiator | Responder
    rng: ScriptedRng
    provider: SoftwareSecurityProvider
    secrets: SessionSecrets | None = None
    inbox: list[bytes] = field(default_factory=list)
    #: A timer's outcome not yet reported by a command on this session.
    expiry: Expiry | None = None
    #: ``transport: "link"``: the TCP connection carrying the session (§13.5).
    link: TcpSessionLink | None = None


def _limit_caps(args: Arguments) -> tuple[int | None, int | None]:
    """SESSION_START ``limits`` {"q": uint, "v": uint} (§13.5, REQ-KU-015), each optional."""
    if not args.has("limits"):
        return None, None
    value = args.raw("limits")
    malformed = 'limits must be a map {"q": uint, "v": uint}'
    if not isinstance(value, dict) or not set(value) <= {"q", "v"}:
        raise AgentFailure(Status.MALFORMED, malformed)
    caps: list[int | None] = []
    for key in ("q", "v"):
        cap = value.get(key)
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 0):
            raise AgentFailure(Status.MALFORMED, malformed)
        if cap == 0:
            raise AgentFailure(Status.INVALID_INPUT, "limits q and v must be at least 1")
        caps.append(cap)
    if caps[0] is not None and caps[0] < MIN_CONFIGURED_Q:
        raise AgentFailure(
            Status.INVALID_INPUT,
            f"limits q must be at least {MIN_CONFIGURED_Q}: q - floor(q/10) leaves room for "
            "the key_update record (REQ-KU-015)",
        )
    return caps[0], caps[1]


def _payloads(session: Session, kind: int) -> list[CborValue]:
    return [p[1:] for p in session.data_to_send() if p and p[0] == kind]


class RoleDriver:
    """The session table and credential slots of one agent."""

    def __init__(
        self,
        max_hs_message: int,
        max_record_plaintext: int,
        clock: Callable[[], float] = time.time,
        audit: AuditLog | None = None,
    ) -> None:
        # The clock is wall time in seconds: sessions pass it to the audit log as the
        # event timestamp (UTC, REQ-AUDIT-003) and run their timers on it.
        self._max_hs = max_hs_message
        self._max_record = max_record_plaintext + _RECORD_OVERHEAD
        self._clock = clock
        self._audit = audit
        self._own: dict[bytes, _OwnCredential] = {}
        self._peers = KeyStore()
        self._sessions: dict[int, _AgentSession] = {}
        self._next_session = 1
        # Link sessions are also driven by the TCP loop thread; both hold this lock.
        self._lock = threading.RLock()
        self._links: LinkLoop | None = None

    def handlers(self) -> dict[int, Callable[[Arguments], dict[str, CborValue]]]:
        handlers: dict[int, Callable[[Arguments], dict[str, CborValue]]] = {
            Command.CRED_LOAD: self._cred_load,
            Command.SESSION_START: self._session_start,
            Command.SESSION_DELIVER: self._session_deliver,
            Command.APP_SEND: self._app_send,
            Command.APP_RECEIVE: self._app_receive,
            Command.EXPORT: self._export,
            Command.KEY_UPDATE: self._key_update,
            Command.APP_POLL: self._app_poll,
            Command.SESSION_INFO: self._session_info,
            Command.SESSION_CLOSE: self._session_close,
        }
        return {code: self._guarded(handler) for code, handler in handlers.items()}

    def _guarded(
        self, handler: Callable[[Arguments], dict[str, CborValue]]
    ) -> Callable[[Arguments], dict[str, CborValue]]:
        """REQ-TAP-013: a ProtocolError escaping any command is status 7, never status 9."""

        def run(args: Arguments) -> dict[str, CborValue]:
            try:
                with self._lock:
                    return handler(args)
            except ProtocolError as exc:
                raise self._alert_failure(exc.alert.value, exc.detail, args) from None

        return run

    def _alert_failure(self, alert: str, detail: str, args: Arguments) -> AgentFailure:
        """Status 7 with what the session would send and its state (no session: FAILED)."""
        number = args.raw("session") if args.has("session") else None
        entry = self._sessions.get(number) if type(number) is int else None
        out: list[CborValue] = []
        state = "FAILED"
        if entry is not None:
            out = self._outgoing(entry)
            state = self._state(entry)
        return AgentFailure(
            Status.PROTOCOL_ALERT,
            detail,
            {"alert": alert, "detail": detail, "out": out, "state": state},
        )

    def run_timers(self) -> None:
        """Fire every session's due timers now (REQ-HS-037, REQ-KU-006); called per command."""
        now = self._clock()
        with self._lock:
            for entry in self._sessions.values():
                if entry.link is not None:
                    entry.link.poll_timers(now)  # its output goes on the link
                elif entry.expiry is None:
                    entry.expiry = fire_timers(entry.session, now)

    def reset(self, scope: str) -> None:
        """REQ-TAP-016: sessions always; credentials unless scope is ``"sessions"``."""
        with self._lock:
            for entry in self._sessions.values():
                if entry.link is not None:
                    entry.link.close()
                entry.provider.close()
            self._sessions.clear()
        if scope != "sessions":
            self._own.clear()
            self._peers = KeyStore()

    # -- credentials ------------------------------------------------------------------

    def _cred_load(self, args: Arguments) -> dict[str, CborValue]:
        slot = args.text("slot")
        if args.bool_("persist", default=False):
            raise AgentFailure(Status.UNSUPPORTED, "this agent has no persistent KeyStore")
        if slot not in ("own", "peer"):
            raise AgentFailure(Status.UNSUPPORTED, f"credential slot {slot!r} is not implemented")
        try:
            credential = parse_ccs(args.bytes_("ccs"))
        except DecodeError as exc:
            raise AgentFailure(Status.INVALID_INPUT, f"ccs is not a usable CCS: {exc}") from None
        kid = kid_bytes(credential.kid)
        if slot == "own":
            secret = args.bytes_("sk")
            self._check_own_key(credential, secret)
            self._own[kid] = _OwnCredential(credential, secret)
        else:
            trust = args.text("trust", default="allow-list")
            if trust != "allow-list":
                raise AgentFailure(Status.UNSUPPORTED, f"trust {trust!r} is not implemented")
            try:
                self._peers.add(credential)
            except KeyStoreError as exc:
                raise AgentFailure(Status.INVALID_INPUT, str(exc)) from None
        return {"kid": kid}

    @staticmethod
    def _check_own_key(credential: Credential, secret: bytes) -> None:
        """REQ-SP-012: before first use, the credential's public key must be the provider's
        public_key(key_ref); a credential of another key is refused with internal_error."""
        with SoftwareSecurityProvider(rng=None) as provider:
            try:
                key = provider.add_signature_key(
                    "own", credential.algorithm, secret, credential.public_key
                )
                matches = provider.public_key(key) == credential.public_key
            except (ProviderError, CryptoError, KeyError, ValueError) as exc:
                detail = f"own key refused by the SecurityProvider: {exc}"
                matches = False
            else:
                detail = "the credential's public key is not the one of sk (REQ-SP-012)"
        if not matches:
            raise AgentFailure(
                Status.PROTOCOL_ALERT,
                detail,
                {"alert": "internal_error", "detail": detail, "out": [], "state": "FAILED"},
            )

    # -- sessions ---------------------------------------------------------------------

    def _session_start(self, args: Arguments) -> dict[str, CborValue]:
        role = args.text("role")
        if role not in ("initiator", "responder"):
            raise AgentFailure(Status.INVALID_INPUT, f"role {role!r} is not initiator/responder")
        method = args.uint("method")
        if method != METHOD_SIGNATURE:
            raise AgentFailure(Status.UNSUPPORTED, f"method {method} is not implemented here")
        link = link_request(args, role)
        timer = state_timer(args)
        for option in ("tofu", "echo"):
            if args.bool_(option, default=False):
                raise AgentFailure(Status.UNSUPPORTED, f"option {option!r} is not implemented")
        if args.has("psk"):
            raise AgentFailure(Status.UNSUPPORTED, "psk is not implemented")
        if len(self._sessions) >= MAX_SESSIONS:
            raise AgentFailure(Status.BUSY, f"at most {MAX_SESSIONS} sessions at a time")
        own = self._own.get(kid_bytes(args.bytes_("cred")))
        if own is None:
            raise AgentFailure(Status.INVALID_STATE, "no own credential with that kid (CRED_LOAD)")
        suites = args.int_list("suites") if args.has("suites") else list(DEFAULT_SUITES)
        resolver: KeyStore | ExpectedPeerResolver = self._peers
        if args.has("peer"):
            resolver = ExpectedPeerResolver(self._peers, kid_bytes(args.bytes_("peer")))
        rng = ScriptedRng()
        if args.has("kem_seed"):
            rng.push(args.bytes_("kem_seed", size=64))
        if args.has("kem_m"):
            rng.push(args.bytes_("kem_m", size=32))
        if args.has("x25519_eph"):
            # The hybrid draws ML-KEM randomness before its X25519 key (crypto/hybrid.py); a
            # responder's m is 32 bytes too, so without kem_m a fresh m keeps that order.
            if role == "responder" and not args.has("kem_m"):
                rng.push(system_rng(32))
            rng.push(args.bytes_("x25519_eph", size=32))
        connection_id = None
        if args.has("c_id"):
            c_id = args.raw("c_id")
            if isinstance(c_id, bool) or not isinstance(c_id, (bytes, int)):
                raise AgentFailure(Status.MALFORMED, "c_id must be a byte string or integer")
            connection_id = cbor.encode(c_id) if isinstance(c_id, int) else c_id
        limit_caps = _limit_caps(args)
        sig_rnd = args.bytes_("sig_rnd", size=32) if args.has("sig_rnd") else None
        provider = SoftwareSecurityProvider(
            rng=(lambda n: sig_rnd if n == 32 else system_rng(n)) if sig_rnd else system_rng
        )
        try:
            key = provider.add_signature_key(
                "own", own.credential.algorithm, own.secret, own.credential.public_key
            )
            config = HandshakeConfig(
                role="initiator" if role == "initiator" else "responder",
                method=method,
                suites=suites,
                credential=own.credential,
                key=key,
                provider=provider,
                resolver=resolver,
                connection_id=connection_id,
                rng=rng,
                send_credential_by_value=args.text("id_cred", default="kid") == "value",
                message_4=args.bool_("msg4", default=False),
                admit=lambda: self._waiting_for_message_3() < WAIT_M3_BOUND,
            )
        except (ValueError, KeyError, ProtocolError, DecodeError) as exc:
            provider.close()
            raise AgentFailure(Status.UNSUPPORTED, f"cannot configure the session: {exc}") from None
        handshake = Initiator(config) if role == "initiator" else Responder(config)
        session = Session(
            handshake,
            rng=rng,
            audit=self._audit,
            binding_context=TAP_BINDING_CONTEXT,
            limit_caps=limit_caps,
            handshake_timeout=timer,
        )
        session.start(self._clock())
        number = self._next_session
        self._next_session += 1
        entry = _AgentSession(role, method, session, handshake, rng, provider)
        self._sessions[number] = entry
        if link is None:
            return {"session": number, "out": _payloads(session, KIND_HANDSHAKE)}
        try:
            url = self._open_link(entry, link, timer)
        except AgentFailure:
            del self._sessions[number]
            provider.close()
            raise
        return {"session": number, "out": [], "link": url}

    # -- transport "link" (TCP, §12.2) ----------------------------------------------

    def _open_link(self, entry: _AgentSession, request: LinkRequest, timer: float) -> str:
        """Put ``entry`` on its own TCP connection; returns the URL dialled or listened on."""
        from pqiot.transports.tcp import TcpAddress
        from pqiot.transports.tcp_link import LinkConfig, LinkLoop, TcpSessionLink

        if self._links is None:
            self._links = LinkLoop()
        link = TcpSessionLink(
            entry.session,
            self._lock,
            self._links,
            on_events=lambda events: self._on_link_events(entry, events),
            on_end=lambda end: self._on_link_end(entry, end.alert, end.detail),
            config=LinkConfig(partial_timeout=timer),
            clock=self._clock,
            audit=self._audit,
        )
        entry.link = link
        try:
            if request.listen:
                link.listen(request.host, request.port)
            else:
                link.dial(TcpAddress(request.host, request.port))
        except OSError as exc:
            raise AgentFailure(Status.INVALID_INPUT, f"link: cannot listen: {exc}") from None
        self._outgoing(entry)  # message_1 of an Initiator waits for the connection
        return link.url

    def _outgoing(self, entry: _AgentSession) -> list[CborValue]:
        """The session's queued payloads: TAP ``out``, or sent on the link (``out`` empty)."""
        payloads = entry.session.data_to_send()
        if entry.link is not None:
            entry.link.send_payloads(payloads)
            return []
        return [p[1:] for p in payloads]

    def _on_link_events(self, entry: _AgentSession, events: list[SessionEvent]) -> None:
        """Events of link input or timers (loop thread, lock held): keep what commands need."""
        for event in events:
            self._track_secrets(entry, event)
            if isinstance(event, ApplicationData):
                entry.inbox.append(event.data)  # APP_POLL returns it
        if entry.expiry is None:
            entry.expiry = link_report(events)

    def _on_link_end(self, entry: _AgentSession, alert: Alert | None, detail: str) -> None:
        """The connection ended the session (REQ-TCP-003); an alert is reported once."""
        if entry.expiry is None:
            entry.expiry = link_report((), alert, detail)

    def _waiting_for_message_3(self) -> int:
        """Responder sessions in WAIT_M3, the ones REQ-HS-036 bounds."""
        return sum(
            1
            for entry in self._sessions.values()
            if entry.role == "responder" and self._state(entry) == "WAIT_M3"
        )

    def _entry(self, args: Arguments) -> _AgentSession:
        entry = self._sessions.get(args.uint("session"))
        if entry is None:
            raise AgentFailure(Status.INVALID_STATE, "unknown session")
        return entry

    def _state(self, entry: _AgentSession) -> str:
        state = entry.session.state
        if state is SessionState.ESTABLISHED:
            return "DONE"
        if state is not SessionState.HANDSHAKING:
            return state.name
        return _HANDSHAKE_STATES.get(entry.handshake.state.value, entry.handshake.state.name)

    def _drain(
        self, entry: _AgentSession, *, silent_drops: bool = False
    ) -> tuple[list[CborValue], list[SessionEvent]]:
        """Outgoing payloads and the events of the step just taken; raise on an alert.

        ``silent_drops``: a dropped payload is not an alert (a message the session
        discards silently, REQ-HS-018) but status 0 with nothing sent.
        """
        out = self._outgoing(entry)
        events: list[SessionEvent] = []
        while (pending := entry.session.next_event()) is not None:
            events.append(pending)
            self._track_secrets(entry, pending)
        for event in events:
            alert = None
            if isinstance(event, PayloadDropped) and silent_drops:
                continue
            if isinstance(event, hs.HandshakeFailed | PayloadDropped):
                alert, detail = event.alert.value, event.detail
            elif isinstance(event, hs.ErrorReceived):
                alert = peer_alert(event.err_code, event.err_info).value
                detail = f"received ERR_CODE {event.err_code}: {event.err_info!r}"
            if alert is not None:
                raise AgentFailure(
                    Status.PROTOCOL_ALERT,
                    detail,
                    {"alert": alert, "detail": detail, "out": out, "state": self._state(entry)},
                )
        return out, events

    @staticmethod
    def _track_secrets(entry: _AgentSession, event: SessionEvent) -> None:
        if isinstance(event, hs.HandshakeCompleted):
            entry.secrets = event.secrets
        elif isinstance(event, rl.KeyUpdateCompleted) and entry.secrets is not None:
            entry.secrets = entry.secrets.key_update(event.nonce)

    def _report_expiry(self, entry: _AgentSession) -> None:
        """A timer ended the session since the last command: report it once, as status 7."""
        expiry, entry.expiry = entry.expiry, None
        if expiry is None:
            return
        for event in expiry.events:
            self._track_secrets(entry, event)
        raise AgentFailure(
            Status.PROTOCOL_ALERT,
            expiry.detail,
            {
                "alert": expiry.alert.value,
                "detail": expiry.detail,
                "out": list(expiry.out),
                "state": self._state(entry),
            },
        )

    def _session_deliver(self, args: Arguments) -> dict[str, CborValue]:
        entry = self._entry(args)
        msg = args.bytes_("msg")
        if len(msg) > self._max_hs:
            raise AgentFailure(Status.TOO_LARGE, f"msg above max_hs_message {self._max_hs}")
        self._report_expiry(entry)
        # Valid in every state (§13.5): in DONE retransmissions (REQ-HS-038), error
        # messages (REQ-HS-022) and stray messages (REQ-HS-018) must reach the session.
        ended = entry.session.state is not SessionState.HANDSHAKING
        entry.session.receive(bytes([KIND_HANDSHAKE]) + msg, self._clock())
        out, _ = self._drain(entry, silent_drops=ended)
        return {"out": out, "state": self._state(entry)}

    def _established(self, entry: _AgentSession) -> None:
        if entry.session.state is not SessionState.ESTABLISHED:
            raise AgentFailure(Status.INVALID_STATE, f"session is {self._state(entry)}, not DONE")

    def _app_send(self, args: Arguments) -> dict[str, CborValue]:
        entry = self._entry(args)
        data = args.bytes_("data")
        if len(data) > self._max_record:
            raise AgentFailure(Status.TOO_LARGE, "data above max_record_plaintext")
        self._report_expiry(entry)
        self._established(entry)
        entry.session.send(data, self._clock())
        out, _ = self._drain(entry)
        return {"out": out}

    def _app_receive(self, args: Arguments) -> dict[str, CborValue]:
        entry = self._entry(args)
        record = args.bytes_("record")
        if len(record) > self._max_record:
            raise AgentFailure(Status.TOO_LARGE, "record above max_record_plaintext + overhead")
        self._report_expiry(entry)
        self._established(entry)
        entry.session.receive(bytes([KIND_RECORD]) + record, self._clock())
        out, events = self._drain(entry)
        for event in events:
            if isinstance(event, ApplicationData):
                return {
                    "content_type": int(ContentType.APPLICATION_DATA),
                    "data": event.data,
                    "out": out,
                }
            if isinstance(event, rl.SessionClosed):
                return {"content_type": int(ContentType.CLOSE), "data": b"", "out": out}
        # A key_update is answered with an ack record; an ack produces nothing to send.
        content = ContentType.KEY_UPDATE if out else ContentType.KEY_UPDATE_ACK
        return {"content_type": int(content), "data": b"", "out": out}

    def _export(self, args: Arguments) -> dict[str, CborValue]:
        entry = self._entry(args)
        label, context = args.uint("label"), args.bytes_("context")
        length = args.uint("len", maximum=255 * 64)
        self._established(entry)
        assert entry.secrets is not None
        return {"okm": entry.secrets.exporter(label, context, length)}

    def _key_update(self, args: Arguments) -> dict[str, CborValue]:
        entry = self._entry(args)
        if args.has("nonce"):
            entry.rng.push(args.bytes_("nonce", size=16))
        self._report_expiry(entry)
        self._established(entry)
        entry.session.update_keys(self._clock())  # ProtocolError: status 7 (_guarded)
        out, _ = self._drain(entry)
        return {"out": out}

    def _app_poll(self, args: Arguments) -> dict[str, CborValue]:
        entry = self._entry(args)
        data: list[CborValue] = list(entry.inbox)
        entry.inbox.clear()
        return {"data": data}

    def _session_info(self, args: Arguments) -> dict[str, CborValue]:
        entry = self._entry(args)
        completed = entry.session.handshake_result
        records = entry.session.records
        peer = completed.peer_credential if completed else None
        return {
            "state": self._state(entry),
            "role": entry.role,
            "method": entry.method,
            "suite": completed.suite_id if completed else None,
            "c_i": completed.c_i if completed else None,
            "c_r": completed.c_r if completed else None,
            "epoch": records.epoch if records else 0,
            "ssn": records.sent_count if records else 0,
            "peer_kid": kid_bytes(peer.kid) if peer else None,
        }

    def _session_close(self, args: Arguments) -> dict[str, CborValue]:
        entry = self._entry(args)
        if args.has("alert"):
            raise AgentFailure(Status.UNSUPPORTED, "closing with an alert is not implemented")
        expiry, entry.expiry = entry.expiry, None
        out: list[CborValue] = list(expiry.out) if expiry is not None else []
        entry.session.close(self._clock())
        out += self._outgoing(entry)
        if entry.link is not None:
            entry.link.close()
        entry.provider.close()
        del self._sessions[args.uint("session")]
        return {"out": out}
