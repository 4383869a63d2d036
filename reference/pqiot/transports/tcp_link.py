"""One session over one TCP connection, driven between TAP commands (spec §12.2, §13.5).

A Test Agent answers TAP commands on its own thread, while a session with
``transport: "link"`` must also react to the wire between commands: answer
message_2, fire the state timer, close on a bad frame. :class:`LinkLoop` runs
one asyncio loop in a background thread for all links of an agent;
:class:`TcpSessionLink` is the glue between one asyncio connection and the
sans-I/O parts (the :class:`~pqiot.reference.session.Session` and the
:class:`~pqiot.reference.framing.length_prefix.FrameDecoder`).

Why a shared lock and no blocking cross-thread calls: the session is touched
by the agent thread (APP_SEND, SESSION_CLOSE, ...) and by the loop thread
(input, timers). Both hold ``lock`` while they do; the agent thread only ever
*schedules* work on the loop, so a loop callback waiting for the lock can never
wait for an agent thread that waits for the loop.

Wire rules implemented here: every payload is one frame (REQ-TCP-001); a length
of 0 or above the maximum, a reserved kind, or a partial frame older than the
state timer closes the connection (REQ-TCP-002, REQ-TCP-005); one connection is
one session and its end ends the session (REQ-TCP-003); the Initiator retries a
failed connect per §12.5 and reports the give-up (REQ-TCP-007). Nothing is ever
retransmitted: TCP delivers (REQ-HS-039).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pqiot.reference.audit import AuditLog
from pqiot.reference.errors import Alert, ProtocolError
from pqiot.reference.framing.length_prefix import MAX_FRAME, FrameDecoder, encode_frame
from pqiot.reference.session import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    KIND_HANDSHAKE,
    KIND_RECORD,
    Session,
    SessionEvent,
    SessionState,
)
from pqiot.transports.recovery import RecoveryPolicy, Retrier
from pqiot.transports.tcp import TcpAddress

__all__ = ["LinkConfig", "LinkEnd", "LinkLoop", "TcpSessionLink"]

_RUNNING = (SessionState.HANDSHAKING, SessionState.ESTABLISHED)


class LinkLoop:
    """An asyncio loop in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="pqiot-tcp-links", daemon=True
                )
                thread.start()
                self._loop = loop
            return self._loop

    def call(self, function: Callable[..., object], *args: object) -> None:
        """Run ``function(*args)`` on the loop thread soon; never blocks."""
        self.loop.call_soon_threadsafe(function, *args)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Start ``coroutine`` as a task on the loop; never blocks."""
        asyncio.run_coroutine_threadsafe(coroutine, self.loop)


@dataclass(frozen=True)
class LinkConfig:
    """Per-link settings: frame limit, partial-frame timeout, connect retries."""

    max_frame: int = MAX_FRAME
    #: REQ-TCP-005: a partial frame older than the handshake state timer closes the link.
    partial_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT
    policy: RecoveryPolicy = field(default_factory=RecoveryPolicy)
    #: One connection attempt may take this long before it counts as failed.
    connect_timeout: float = 5.0


@dataclass(frozen=True)
class LinkEnd:
    """Why a link ended the session it carried: an alert (None: an orderly end) and text."""

    alert: Alert | None
    detail: str


class TcpSessionLink(asyncio.Protocol):
    """Carries ``session`` over exactly one TCP connection, dialled or accepted.

    ``on_events`` receives the events each step of the session produced and
    ``on_end`` learns once why the connection ended the session, both called
    with ``lock`` held on the loop thread. Methods without a leading underscore
    are for the agent thread, which must hold ``lock`` too.
    """

    def __init__(
        self,
        session: Session,
        lock: threading.RLock,
        links: LinkLoop,
        *,
        on_events: Callable[[list[SessionEvent]], None],
        on_end: Callable[[LinkEnd], None],
        config: LinkConfig | None = None,
        clock: Callable[[], float] = time.time,
        audit: AuditLog | None = None,
    ) -> None:
        self.session = session
        self.config = config or LinkConfig()
        self._lock = lock
        self._links = links
        self._on_events = on_events
        self._on_end = on_end
        self._clock = clock
        self._audit = audit
        self._decoder = FrameDecoder(self.config.max_frame)
        self._outbox: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._server: asyncio.AbstractServer | None = None
        self._dialer: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._partial_since: float | None = None
        self._reading = True
        self.ended = False
        #: ``tcp://HOST:PORT`` this link listens on (Responder) or dials (Initiator).
        self.url = ""

    # -- agent thread (lock held) ------------------------------------------------------

    def dial(self, address: TcpAddress) -> None:
        """Connect to ``address``, retrying per §12.5 (REQ-TCP-007)."""
        self.url = f"tcp://{_host_for_url(address.host)}:{address.port}"
        self._links.spawn(self._dial(address))

    def listen(self, host: str, port: int = 0) -> str:
        """Listen on ``host:port`` (0: a free port) for the one connection of this session.

        The socket listens before this returns (connections wait in the backlog
        until the loop accepts), so the peer may connect at once.
        """
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
        sock.setblocking(False)
        bound = sock.getsockname()
        self.url = f"tcp://{_host_for_url(bound[0])}:{bound[1]}"
        self._links.spawn(self._serve(sock))
        return self.url

    def send_payloads(self, payloads: list[bytes]) -> None:
        """Frame payloads the session produced on the agent thread and send them in order."""
        for payload in payloads:
            self._outbox.append(encode_frame(payload, self.config.max_frame))
        self._links.call(self._kick)

    def close(self) -> None:
        """Stop for good (SESSION_CLOSE, RESET): send what is queued, then close."""
        self.ended = True
        self._links.call(self._kick)

    # -- loop thread -------------------------------------------------------------------

    async def _dial(self, address: TcpAddress) -> None:
        loop = asyncio.get_running_loop()
        self._dialer = asyncio.current_task()
        retrier = Retrier(self.config.policy, "connect", self.url, audit=self._audit)
        while not self.ended:
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: self, address.host, address.port),
                    self.config.connect_timeout,
                )
                return
            except (OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    delay = retrier.failed(self._clock(), reason)
                    if delay is None:
                        self._finish(
                            Alert.UNSPECIFIED_ERROR,
                            f"transport: connecting to {self.url} gave up after "
                            f"{retrier.failures} attempts ({reason})",
                        )
                        return
            await asyncio.sleep(delay)

    async def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, sock=sock)
        if self.ended:
            self._server.close()

    def _accept(self) -> asyncio.Protocol:
        """REQ-TCP-003: the first connection carries the session; later ones are refused."""
        if self._transport is not None or self.ended:
            return _Refuse()
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        with self._lock:
            if self._transport is not None or self.ended:
                transport.abort()
                return
            self._transport = transport
            self._dialer = None
            if self._server is not None:
                self._server.close()  # stop listening; the accepted connection stays
            self._kick_locked()

    def data_received(self, data: bytes) -> None:
        with self._lock:
            if not self._reading:
                return
            now = self._clock()
            try:
                frames = self._decoder.feed(data)
            except ProtocolError as exc:
                # REQ-TCP-002: a length of 0 or above the limit; a stream cannot resync.
                self._finish(exc.alert, f"transport: {exc.detail}")
                return
            # REQ-TCP-005 times the frame in progress: from its first byte.
            if not self._decoder.pending:
                self._partial_since = None
            elif frames or self._partial_since is None:
                self._partial_since = now
            for frame in frames:
                if frame[0] not in (KIND_HANDSHAKE, KIND_RECORD):
                    self._finish(Alert.DECODE_ERROR, f"transport: reserved kind 0x{frame[0]:02x}")
                    return
                self.session.receive(frame, now)
                self._step()
                if self.ended:
                    return
            self._kick_locked()  # (re-)arm the timer for a partial frame

    def eof_received(self) -> bool | None:
        return False  # the peer closed its side: close ours too (connection_lost follows)

    def connection_lost(self, exc: Exception | None) -> None:
        with self._lock:
            self._transport = None
            if not self.ended:
                how = "closed by the peer" if exc is None else f"lost ({exc})"
                established = self.session.state is SessionState.ESTABLISHED
                # REQ-TCP-003: the connection's end is the session's end. An
                # established session just ends; a handshake in progress fails.
                self._finish(
                    None if established else Alert.UNSPECIFIED_ERROR, f"transport: connection {how}"
                )
            self._cancel_timer()

    def _finish(self, alert: Alert | None, detail: str) -> None:
        """End the session because of the link, tell the agent, and close the connection."""
        self._reading = False
        first, self.ended = not self.ended, True
        if self.session.state in _RUNNING:
            self.session.close(self._clock(), alert, detail)
            if self._transport is None:
                self.session.data_to_send()  # a close record has nowhere to go
            self._collect()
        if first:
            self._on_end(LinkEnd(alert, detail))
        self._kick_locked()

    def _step(self) -> None:
        """After the session moved on the loop thread: report, send, re-arm the timer."""
        self._collect()
        self._kick_locked()

    def _collect(self) -> None:
        """Hand the session's events to the agent and queue its output as frames."""
        events: list[SessionEvent] = []
        while (event := self.session.next_event()) is not None:
            events.append(event)
        if events:
            self._on_events(events)
        for payload in self.session.data_to_send():
            self._outbox.append(encode_frame(payload, self.config.max_frame))

    def _kick(self) -> None:
        with self._lock:
            self._kick_locked()

    def _kick_locked(self) -> None:
        """Write the queued frames; once the session is over, close after them."""
        transport = self._transport
        if transport is not None and self._outbox:
            for frame in self._outbox:
                transport.write(frame)
            self._outbox.clear()
        if self.session.state not in _RUNNING:
            self.ended = True  # REQ-TCP-003: the session's end is the connection's end
        if self.ended:
            self._cancel_timer()
            if transport is not None:
                transport.close()  # after the buffered frames
            elif self._dialer is not None:
                self._dialer.cancel()
            if self._server is not None:
                self._server.close()
            return
        self._arm_timer()

    def _arm_timer(self) -> None:
        self._cancel_timer()
        deadlines = [d for d in (self.session.timer_deadline, self._partial_deadline()) if d]
        if not deadlines:
            return
        delay = max(0.0, min(deadlines) - self._clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _partial_deadline(self) -> float | None:
        if self._partial_since is None:
            return None
        return self._partial_since + self.config.partial_timeout

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if self.ended:
                return
            now = self._clock()
            partial = self._partial_deadline()
            if partial is not None and now >= partial:
                self._finish(
                    Alert.DECODE_ERROR,
                    f"transport: a partial frame ({self._decoder.pending} bytes) was not "
                    f"completed within {self.config.partial_timeout:g} s",
                )
                return
            self.session.handle_timer(now)
            self._step()

    def poll_timers(self, now: float) -> None:
        """Fire the session's due timers now (either thread, lock held)."""
        deadline = self.session.timer_deadline
        if self.ended or deadline is None or now < deadline:
            return
        self.session.handle_timer(now)
        self._collect()
        self._links.call(self._kick)


class _Refuse(asyncio.Protocol):
    """A second connection to a session's port: closed at once (REQ-TCP-003)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
