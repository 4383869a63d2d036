"""CoAP binding (spec §12.4): EDHOC over CoAP, then OSCORE-protected requests.

The server is an aiocoap site with two resources: ``/.well-known/edhoc``
(RFC 9528 Appendix A.2, forward flow: the client is the Initiator) and an
OSCORE endpoint that unprotects requests with :mod:`pqiot.reference.oscore`
and hands the inner request to an application handler. aiocoap does
block-wise transfer (RFC 7959) in both directions; this module caps every
reassembled body at 16384 bytes (REQ-COAP-004/010). The handshake itself
runs in a :class:`~pqiot.reference.session.Session`; only its handshake half
is used, because on CoAP the session keys protect CoAP messages with OSCORE
instead of chapter 7 records (REQ-COAP-005).

Around that core: Block1 reassembly with the spec's timeout
(:mod:`.coap_block1`), persisted contexts (:mod:`.coap_store`) whose first
request after a restart must prove freshness with Echo (:mod:`.coap_echo`,
REQ-COAP-008), and the usage limits of §7.9 per sender and recipient key,
with a new EDHOC handshake at the key-update threshold (REQ-COAP-009).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiocoap
import aiocoap.error
import aiocoap.resource
from aiocoap.blockwise import Block2Cache
from aiocoap.numbers.codes import Code

from pqiot.reference import cbor
from pqiot.reference.edhoc import events as hs
from pqiot.reference.edhoc.messages import decode_message_1, encode_error_message
from pqiot.reference.edhoc.wire import decode_connection_id, encode_connection_id
from pqiot.reference.errors import Alert, DecodeError, ProtocolError
from pqiot.reference.oscore.coap import CoapMessage, MessageType, Option, decode_options_and_payload
from pqiot.reference.oscore.context import SecurityContext
from pqiot.reference.oscore.nonce import piv_to_int
from pqiot.reference.oscore.option import decode_option
from pqiot.reference.oscore.protect import (
    OPTION_OSCORE,
    RequestBinding,
    protect_request,
    protect_response,
    unprotect_request,
    unprotect_response,
)
from pqiot.reference.records.limits import UsageLimits, limits_for
from pqiot.reference.records.persistence import DEFAULT_K, SenderSequence
from pqiot.reference.records.replay import ReplayWindow
from pqiot.reference.session import KIND_HANDSHAKE, Session, SessionEvent
from pqiot.transports.coap_block1 import Block1Spool
from pqiot.transports.coap_echo import DEFAULT_ECHO_LIFETIME, OPTION_ECHO, EchoChallenges
from pqiot.transports.coap_store import CoapContextStore, MemoryContextStore, StoredContext
from pqiot.transports.connection_ids import initiator_c_r

__all__ = [
    "CF_CID_EDHOC_CBOR_SEQ",
    "CF_EDHOC_CBOR_SEQ",
    "EDHOC_PATH",
    "MAX_BODY",
    "AppHandler",
    "CoapEdhocError",
    "CoapInitiator",
    "CoapServer",
    "ServerContext",
    "UsageLimitReached",
    "oscore_contexts",
]

EDHOC_PATH = (".well-known", "edhoc")
CF_EDHOC_CBOR_SEQ = 64  # application/edhoc+cbor-seq
CF_CID_EDHOC_CBOR_SEQ = 65  # application/cid-edhoc+cbor-seq
MAX_BODY = 16384  # REQ-COAP-004 / REQ-COAP-010
URI_PATH = 11
MAX_PENDING = 8  # REQ-HS-036: sessions waiting for message_3
BUSY_MAX_AGE = 5

#: ``handler(path, code, payload) -> (code, payload)`` for OSCORE-protected requests.
AppHandler = Callable[[tuple[str, ...], int, bytes], Awaitable[tuple[int, bytes]]]


class CoapEdhocError(Exception):
    """The server answered a handshake request with an error code."""

    def __init__(self, code: Code, payload: bytes) -> None:
        super().__init__(f"EDHOC over CoAP failed with {code}: {payload[:64].hex()}")
        self.code = code
        self.payload = payload


class UsageLimitReached(Exception):
    """The OSCORE sender key reached limit_q (REQ-KU-011): nothing more may be encrypted with it."""


def oscore_contexts(completed: hs.HandshakeCompleted, role: str) -> SecurityContext:
    """The OSCORE context of ``role`` after EDHOC (RFC 9528 App. A.1, chapter 6 §6.6)."""
    return _stored_context(completed, role).derive()


def _stored_context(completed: hs.HandshakeCompleted, role: str) -> StoredContext:
    own, peer = (
        (completed.c_r, completed.c_i) if role == "initiator" else (completed.c_i, completed.c_r)
    )
    return StoredContext(
        suite_id=completed.suite_id,
        master_secret=completed.oscore_master_secret(),
        master_salt=completed.oscore_master_salt(),
        sender_id=own,
        recipient_id=peer,
    )


def _to_message(request: aiocoap.Message) -> CoapMessage:
    """aiocoap message -> the reference codec's view (header fields do not enter OSCORE)."""
    raw = request.opt.encode() + (b"\xff" + request.payload if request.payload else b"")
    options, payload = decode_options_and_payload(raw)
    return CoapMessage(MessageType.CON, int(request.code), 0, b"", options, payload)


def _from_options(code: int, options: tuple[Option, ...], payload: bytes) -> aiocoap.Message:
    message = aiocoap.Message(code=Code(code), payload=payload)
    for number, value in options:
        if number != OPTION_OSCORE:
            raise ValueError(f"unexpected outer option {number}")
        message.opt.oscore = value
    return message


def _too_large() -> aiocoap.Message:
    response = aiocoap.Message(code=Code.REQUEST_ENTITY_TOO_LARGE)
    response.opt.size1 = MAX_BODY
    return response


def _inner_option(message: CoapMessage, number: int) -> bytes | None:
    values = message.option_values(number)
    return values[0] if values else None


class _CappedResource(aiocoap.resource.Resource):
    """Block1 reassembly by our spool (REQ-COAP-004 timeout), never beyond 16384 bytes."""

    def __init__(self, server: CoapServer) -> None:
        super().__init__()
        self.server = server
        self._spool = Block1Spool(server.block1_timeout)
        self._responses = Block2Cache()

    async def render_to_pipe(self, pipe: Any) -> None:
        request = pipe.request
        block1 = request.opt.block1
        offset = block1.start if block1 is not None else 0
        declared = request.opt.size1
        if offset + len(request.payload) > MAX_BODY or (
            declared is not None and declared > MAX_BODY
        ):
            pipe.add_response(_too_large(), is_last=True)
            return
        whole = self._spool.feed(request)  # raises 2.31 Continue / 4.08 Incomplete
        response = await self._responses.extract_or_insert(whole, lambda: self.render(whole))
        response.opt.block1 = whole.opt.block1
        pipe.add_response(response, is_last=True)


@dataclass
class _Pending:
    session: Session
    created: float
    events: list[SessionEvent] = field(default_factory=list)


class _EdhocResource(_CappedResource):
    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        if request.opt.uri_query:
            return aiocoap.Message(code=Code.BAD_REQUEST)
        return self.server._handshake(request.payload)


class _OscoreResource(_CappedResource):
    """Receives every request without Uri-Path: OSCORE moves the path inside (RFC 8613 §4.1)."""

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        if request.opt.oscore is None:
            return aiocoap.Message(code=Code.NOT_FOUND)
        return await self.server._oscore(request)


@dataclass
class ServerContext:
    """One OSCORE context at the server: keys, replay window and the §7.9 counters.

    ``sequence`` hands out the server's Sender Sequence Numbers and counts every
    encryption with the sender key (count_q, including responses that reuse the
    request nonce); ``failures`` counts failed decryptions (count_v). Both are
    persisted K ahead, so neither goes backwards across a restart (REQ-KU-013).
    """

    kid: bytes
    security: SecurityContext
    limits: UsageLimits
    sequence: SenderSequence
    failures: SenderSequence
    window: ReplayWindow = field(default_factory=ReplayWindow)

    @property
    def count_q(self) -> int:
        return self.sequence.next_value

    @property
    def count_v(self) -> int:
        return self.failures.next_value


class CoapServer:
    """EDHOC Responder + OSCORE server on one aiocoap context.

    ``session_factory(c_r)`` builds a responder Session using connection
    identifier ``c_r``; ``handler`` serves OSCORE-protected requests (default:
    POST/PUT ``echo`` returns the payload). ``store`` keeps the OSCORE contexts
    across restarts: contexts found there on construction must see an Echo
    round trip before their first request is processed (REQ-COAP-008).
    ``limits`` overrides the §7.9 table (tests use tiny limits);
    ``block1_timeout`` defaults to the handshake state timer (REQ-COAP-004).
    """

    def __init__(
        self,
        session_factory: Callable[[bytes], Session],
        *,
        handler: AppHandler | None = None,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[SessionEvent], None] | None = None,
        state_timeout: float = 30.0,
        block1_timeout: float | None = None,
        store: CoapContextStore | None = None,
        persistence_k: int = DEFAULT_K,
        limits: UsageLimits | None = None,
        echo_lifetime: float = DEFAULT_ECHO_LIFETIME,
    ) -> None:
        self._factory = session_factory
        self._handler = handler or echo_handler
        self._clock = clock
        self._on_event = on_event
        self._state_timeout = state_timeout
        self.block1_timeout = state_timeout if block1_timeout is None else block1_timeout
        self._store: CoapContextStore = store if store is not None else MemoryContextStore()
        self._k = persistence_k
        self._limits = limits
        self.echo = EchoChallenges(lifetime=echo_lifetime)
        self._pending: dict[bytes, _Pending] = {}
        self.contexts: dict[bytes, ServerContext] = {}
        self.completed: list[hs.HandshakeCompleted] = []
        self.discarded: list[tuple[bytes, str]] = []
        self._next_cid = 0x0100
        self.context: aiocoap.Context | None = None
        self.port = 0
        for kid, stored in self._store.load().items():
            self.contexts[kid] = self._open_context(kid, stored)
            self.echo.require(kid)  # REQ-COAP-008: restored, so freshness is unknown

    def site(self) -> aiocoap.resource.Site:
        site = aiocoap.resource.Site()
        site.add_resource(list(EDHOC_PATH), _EdhocResource(self))
        site.add_resource([], _OscoreResource(self))
        return site

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (UDP)."""
        if port == 0:
            raise ValueError("give the CoAP server an explicit port (5683 is the default)")
        self.context = await aiocoap.Context.create_server_context(self.site(), bind=(host, port))
        self.port = port

    async def stop(self) -> None:
        if self.context is not None:
            await self.context.shutdown()

    # -- contexts and limits ----------------------------------------------------------

    def _open_context(self, kid: bytes, stored: StoredContext) -> ServerContext:
        security = stored.derive()
        limits = self._limits or limits_for(security.aead.cose_alg)
        counters = self._store.counters
        return ServerContext(
            kid=kid,
            security=security,
            limits=limits,
            sequence=SenderSequence(counters, f"coap/{kid.hex()}/q", self._k, limits.q),
            failures=SenderSequence(
                counters, f"coap/{kid.hex()}/v", self._k, limits.v, store_initial_bound=False
            ),
        )

    def _add_context(self, completed: hs.HandshakeCompleted) -> None:
        stored = _stored_context(completed, "responder")
        kid = stored.recipient_id
        self._store.save(kid, stored)
        self.contexts[kid] = self._open_context(kid, stored)

    def _discard(self, entry: ServerContext, reason: str) -> None:
        """REQ-KU-011/012: the context is gone for good; the client must run a new handshake."""
        self.contexts.pop(entry.kid, None)
        self._store.delete(entry.kid)
        entry.sequence.forget()
        entry.failures.forget()
        self.echo.forget(entry.kid)
        self.discarded.append((entry.kid, reason))

    # -- EDHOC ------------------------------------------------------------------

    def _allocate_cid(self, avoid: bytes) -> bytes:
        while True:
            cid = self._next_cid.to_bytes(2, "big")
            self._next_cid = 0x0100 if self._next_cid == 0xFFFF else self._next_cid + 1
            if cid != avoid and cid not in self._pending and cid not in self.contexts:
                return cid

    def _expire(self, now: float) -> None:
        for cid, pending in list(self._pending.items()):
            if now - pending.created > self._state_timeout:
                del self._pending[cid]

    def _handshake(self, body: bytes) -> aiocoap.Message:
        now = self._clock()
        self._expire(now)
        try:
            decoder = cbor.Decoder(body)
            first = decoder.read()
            rest = body[decoder.position :]
            if first is True:
                c_i = decode_message_1(rest).c_i
                if len(self._pending) >= MAX_PENDING:
                    response = self._error(Code.SERVICE_UNAVAILABLE, "unspecified_error: busy")
                    response.opt.max_age = BUSY_MAX_AGE
                    return response
                cid = self._allocate_cid(c_i)
                pending = _Pending(self._factory(cid), now)
                self._pending[cid] = pending
            else:
                cid = decode_connection_id(first, "C_R")
                found = self._pending.get(cid)
                if found is None:
                    return self._error(Code.BAD_REQUEST, "unexpected_message: unknown C_R")
                pending = found
        except ProtocolError as exc:
            return self._error(Code.BAD_REQUEST, _info(exc.alert, exc.detail))
        session = pending.session
        session.receive(bytes([KIND_HANDSHAKE]) + rest, now)
        replies = [p[1:] for p in session.data_to_send() if p[0] == KIND_HANDSHAKE]
        failed: hs.HandshakeFailed | None = None
        while (event := session.next_event()) is not None:
            if self._on_event is not None:
                self._on_event(event)
            if isinstance(event, hs.HandshakeCompleted):
                self.completed.append(event)
                self._add_context(event)
                self._pending.pop(cid, None)
            elif isinstance(event, hs.HandshakeFailed):
                failed = event
                self._pending.pop(cid, None)
        payload = replies[0] if replies else b""
        if failed is not None:
            code = (
                Code.INTERNAL_SERVER_ERROR
                if failed.alert is Alert.INTERNAL_ERROR
                else Code.BAD_REQUEST
            )
            if not payload:
                payload = encode_error_message(1, _info(failed.alert, failed.detail))
            return aiocoap.Message(code=code, payload=payload, content_format=CF_EDHOC_CBOR_SEQ)
        return aiocoap.Message(code=Code.CHANGED, payload=payload, content_format=CF_EDHOC_CBOR_SEQ)

    @staticmethod
    def _error(code: Code, info: str) -> aiocoap.Message:
        return aiocoap.Message(
            code=code, payload=encode_error_message(1, info), content_format=CF_EDHOC_CBOR_SEQ
        )

    # -- OSCORE -------------------------------------------------------------------

    async def _oscore(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            message = _to_message(request)
            kid = decode_option(request.opt.oscore).kid
        except DecodeError:
            return aiocoap.Message(code=Code.BAD_OPTION)
        entry = self.contexts.get(kid or b"")
        if entry is not None and entry.count_q >= entry.limits.q:
            self._discard(entry, "limit_q")  # REQ-KU-011: no encryption left for the answer
            entry = None
        if entry is None:
            return aiocoap.Message(code=Code.UNAUTHORIZED, payload=b"Security context not found")
        unverified = self.echo.pending(entry.kid)
        try:
            # Before the Echo round trip the window is unknown (B.1.2): authenticate only.
            inner, binding = unprotect_request(
                entry.security, message, replay=None if unverified else entry.window
            )
        except DecodeError:
            return aiocoap.Message(code=Code.BAD_OPTION, payload=b"Decode failed")
        except ProtocolError as exc:  # REQ-COAP-007: RFC 8613 §8.2
            if exc.alert is Alert.REPLAY_DETECTED:
                return aiocoap.Message(code=Code.UNAUTHORIZED, payload=b"Replay detected")
            entry.failures.take()  # count_v
            if entry.count_v >= entry.limits.v:
                self._discard(entry, "limit_v")  # REQ-KU-012
            return aiocoap.Message(code=Code.UNAUTHORIZED, payload=b"Decryption failed")
        if unverified:
            if not self.echo.verify(entry.kid, _inner_option(inner, OPTION_ECHO)):
                # RFC 9175 §2.4 / RFC 8613 B.1.2: not processed; the answer carries our own
                # Partial IV because the request (and so its nonce) may be a replay.
                challenge = self.echo.issue(entry.kid)
                return self._protect(
                    entry, binding, int(Code.UNAUTHORIZED), b"", ((OPTION_ECHO, challenge),), True
                )
            # Fresh: this Partial IV is the window's new lower limit (B.1.2).
            entry.window = ReplayWindow(entry.window.size)
            entry.window.reject_up_to(piv_to_int(binding.piv))
        path = tuple(v.decode("utf-8", "replace") for n, v in inner.options if n == URI_PATH)
        code, payload = await self._handler(path, inner.code, inner.payload)
        if len(payload) > MAX_BODY - 64:
            code, payload = int(Code.INTERNAL_SERVER_ERROR), b""
        return self._protect(entry, binding, code, payload, (), False)

    def _protect(
        self,
        entry: ServerContext,
        binding: RequestBinding,
        code: int,
        payload: bytes,
        options: tuple[Option, ...],
        own_piv: bool,
    ) -> aiocoap.Message:
        ssn = entry.sequence.take()  # count_q + 1; below limit_q (checked on arrival)
        plain = CoapMessage(MessageType.ACK, code, 0, b"", options, payload)
        protected = protect_response(entry.security, plain, binding, ssn if own_piv else None)
        return _from_options(protected.code, protected.options, protected.payload)


async def echo_handler(path: tuple[str, ...], code: int, payload: bytes) -> tuple[int, bytes]:
    """Default application: POST/PUT ``echo`` returns the request payload; nothing else exists."""
    if path != ("echo",):
        return int(Code.NOT_FOUND), b""
    if code not in (int(Code.POST), int(Code.PUT)):
        return int(Code.METHOD_NOT_ALLOWED), b""
    return int(Code.CHANGED), payload


def _info(alert: Alert, detail: str) -> str:
    return f"{alert.value}: {detail}"[:128] if detail else alert.value


class CoapInitiator:
    """Client side: runs the handshake over POSTs, then sends OSCORE-protected requests.

    ``new_session`` builds the Session for a new handshake when the sender key
    reaches the key-update threshold of §7.9 or a recipient key reaches
    limit_v (REQ-COAP-009); without it the client stops at limit_q with
    :class:`UsageLimitReached`. ``limits`` overrides the §7.9 table.
    """

    def __init__(
        self,
        context: aiocoap.Context,
        base_uri: str,
        session: Session,
        *,
        clock: Callable[[], float] = time.time,
        new_session: Callable[[], Session] | None = None,
        limits: UsageLimits | None = None,
    ) -> None:
        self.context = context
        self.base_uri = base_uri.rstrip("/")
        self.session = session
        self._clock = clock
        self._new_session = new_session
        self._limits_override = limits
        self.limits: UsageLimits | None = None
        self.oscore: SecurityContext | None = None
        self._ssn = 0  # the next Partial IV, and count_q of the sender key
        self.count_v = 0
        self._response_window = ReplayWindow()
        self.bytes_sent = 0
        self.bytes_received = 0
        self.events: list[SessionEvent] = []
        self.handshakes = 0
        self.echo_retries = 0
        self.rekey_failures: list[str] = []

    @property
    def count_q(self) -> int:
        return self._ssn

    async def _post_edhoc(self, payload: bytes, content_format: int) -> aiocoap.Message:
        request = aiocoap.Message(
            code=Code.POST,
            uri=self.base_uri + "/" + "/".join(EDHOC_PATH),
            payload=payload,
            content_format=content_format,
        )
        self.bytes_sent += len(payload)
        response = await self._send(request)
        self.bytes_received += len(response.payload)
        return response

    async def _send(self, request: aiocoap.Message) -> aiocoap.Message:
        """One CoAP exchange (aiocoap retransmits CON requests, REQ-COAP-014)."""
        return await self.context.request(request).response

    def _feed(self, payload: bytes) -> list[bytes]:
        self.session.receive(bytes([KIND_HANDSHAKE]) + payload, self._clock())
        out = [p[1:] for p in self.session.data_to_send() if p[0] == KIND_HANDSHAKE]
        while (event := self.session.next_event()) is not None:
            self.events.append(event)
        return out

    async def handshake(self) -> hs.HandshakeCompleted:
        """message_1 -> message_2 -> message_3 (-> message_4); raises CoapEdhocError on failure.

        On success the new OSCORE context replaces the old one, with fresh counters.
        """
        self.session.start(self._clock())
        (message_1,) = [p[1:] for p in self.session.data_to_send()]
        response = await self._post_edhoc(b"\xf5" + message_1, CF_CID_EDHOC_CBOR_SEQ)
        if response.code != Code.CHANGED:
            self._feed(response.payload)
            raise CoapEdhocError(response.code, response.payload)
        for message_3 in self._feed(response.payload):
            c_r = initiator_c_r(self.session)
            if c_r is None:
                break  # our own error after a bad message_2: nothing to address it to
            response = await self._post_edhoc(
                encode_connection_id(c_r) + message_3, CF_CID_EDHOC_CBOR_SEQ
            )
            if response.code != Code.CHANGED:
                raise CoapEdhocError(response.code, response.payload)
            if response.payload:
                self._feed(response.payload)  # message_4
        completed = self.session.handshake_result
        if completed is None:
            raise CoapEdhocError(Code.BAD_REQUEST, b"")
        self.oscore = oscore_contexts(completed, "initiator")
        self.limits = self._limits_override or limits_for(self.oscore.aead.cose_alg)
        self._ssn = 0
        self.count_v = 0
        self._response_window = ReplayWindow()
        self.handshakes += 1
        return completed

    async def _ensure_key(self) -> SecurityContext:
        """REQ-COAP-009: new handshake at the threshold; never encrypt at limit_q."""
        if self.limits is not None and self._new_session is not None:
            due = self.oscore is None or self._ssn >= self.limits.key_update_threshold
            if due:
                try:
                    self.session = self._new_session()
                    await self.handshake()
                except (CoapEdhocError, aiocoap.error.Error) as exc:
                    # Keep the old key until limit_q (REQ-KU-011); retried on the next request.
                    self.rekey_failures.append(str(exc))
        if self.oscore is None or self.limits is None:
            raise RuntimeError(
                "no OSCORE context: run handshake() first (or again after a usage limit)"
            )
        if self._ssn >= self.limits.q:
            raise UsageLimitReached(
                f"the OSCORE sender key has protected {self._ssn} messages, its limit_q "
                f"(spec §7.9); run handshake() for a new key"
            )
        return self.oscore

    async def request(
        self, path: str, payload: bytes = b"", code: Code = Code.POST
    ) -> tuple[Code, bytes]:
        """One OSCORE-protected request; returns the inner (code, payload).

        A protected 4.01 carrying Echo (a restarted server checking freshness,
        REQ-COAP-008) is answered by repeating the request once, with a new
        Partial IV and the Echo value.
        """
        if len(payload) > MAX_BODY - 64:
            raise ValueError(
                f"message_too_large: a CoAP payload is at most {MAX_BODY} bytes after OSCORE "
                "protection (REQ-COAP-010); split the data"
            )
        answer, body, echo = await self._exchange(path, payload, code, None)
        if answer == Code.UNAUTHORIZED and echo is not None:
            self.echo_retries += 1
            answer, body, _ = await self._exchange(path, payload, code, echo)
        return answer, body

    async def _exchange(
        self, path: str, payload: bytes, code: Code, echo: bytes | None
    ) -> tuple[Code, bytes, bytes | None]:
        security = await self._ensure_key()
        options = tuple((URI_PATH, part.encode()) for part in path.strip("/").split("/") if part)
        if echo is not None:
            options += ((OPTION_ECHO, echo),)
        plain = CoapMessage(MessageType.CON, int(code), 0, b"", options, payload)
        protected, binding = protect_request(security, plain, self._ssn)
        self._ssn += 1
        outer = _from_options(protected.code, protected.options, protected.payload)
        outer.set_request_uri(self.base_uri)
        self.bytes_sent += len(outer.payload)
        response = await self._send(outer)
        self.bytes_received += len(response.payload)
        return self._open(security, response, binding)

    def _open(
        self, security: SecurityContext, response: aiocoap.Message, binding: RequestBinding
    ) -> tuple[Code, bytes, bytes | None]:
        if response.opt.oscore is None:
            return response.code, response.payload, None  # an unprotected error (e.g. 4.01)
        try:
            inner = unprotect_response(
                security, _to_message(response), binding, replay=self._response_window
            )
        except ProtocolError as exc:
            if exc.alert is Alert.DECRYPT_FAILED and security is self.oscore:
                self.count_v += 1
                assert self.limits is not None
                if self.count_v >= self.limits.v:
                    self.oscore = None  # REQ-KU-012: the recipient key is used up
            raise
        return Code(inner.code), inner.payload, _inner_option(inner, OPTION_ECHO)
