"""Serial binding (spec §12.1): a session over a pyserial port, COBS + CRC-32 frames.

Works with anything ``serial.serial_for_url`` opens: real UARTs, ptys,
``socket://`` and ``rfc2217://``. Framing, CRC, fragmentation and capped
reassembly are the reference codecs' (:mod:`pqiot.reference.framing.serial_frames`);
this module adds the I/O, the channel split (channel 0 → session, channel 1 →
Test Agent, REQ-SER-009) and the Initiator's retransmission timer (REQ-SER-007),
because a UART loses frames and nothing else would resend them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import serial

from pqiot.reference.framing.serial_frames import (
    CHANNEL_PROTOCOL,
    CHANNEL_TAP,
    DEFAULT_MTU,
    DEFAULT_TIMEOUT,
    SerialReceiver,
    encode_message,
)
from pqiot.reference.session import (
    KIND_HANDSHAKE,
    KIND_RECORD,
    Session,
    SessionEvent,
    SessionState,
)
from pqiot.transports.urls import SerialUrl

__all__ = ["RetransmitPolicy", "SerialPort", "SerialSession"]

READ_CHUNK = 4096
POLL_S = 0.05


@dataclass(frozen=True)
class RetransmitPolicy:
    """REQ-SER-007: first timeout 2 s, doubled after each retransmission, at most 2 of them."""

    initial: float = 2.0
    retransmissions: int = 2


class SerialPort:
    """A pyserial port read by a helper thread, written from a worker thread.

    pyserial's API is blocking; a thread per port keeps the event loop free, and
    writes go through a thread too because a pty or slow UART may block on a full buffer.
    """

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        self._socket_like = type(port).__module__.endswith("protocol_socket")
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._stop = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._read_loop, name="pqiot-serial", daemon=True)
        self._thread.start()
        self.bytes_written = 0
        self.bytes_read = 0

    @classmethod
    async def open(cls, url: SerialUrl) -> SerialPort:
        """Open ``url``; errors say which port failed and why."""
        try:
            port = await asyncio.to_thread(
                serial.serial_for_url, url.port, baudrate=url.baudrate, timeout=POLL_S
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            raise ConnectionError(f"cannot open serial port {url.port}: {exc}") from exc
        return cls(port)

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                # Block for the first byte only (up to POLL_S), then take what is buffered:
                # waiting for a full chunk would add a poll interval to every frame.
                data = self.port.read(1)
                if data:
                    data += self._read_buffered()
            except (serial.SerialException, OSError, TypeError, AttributeError):
                data = b""
                if not self._stop.is_set():
                    self._loop.call_soon_threadsafe(self.chunks.put_nowait, b"")
                return
            if data:
                self._loop.call_soon_threadsafe(self.chunks.put_nowait, data)

    def _read_buffered(self) -> bytes:
        if self._socket_like:
            # socket:// reports in_waiting as 0 or 1; a non-blocking read takes the lot.
            self.port.timeout = 0
            try:
                return bytes(self.port.read(READ_CHUNK))
            finally:
                self.port.timeout = POLL_S
        return bytes(self.port.read(min(READ_CHUNK, self.port.in_waiting)))

    async def write(self, data: bytes) -> None:
        async with self._lock:
            await asyncio.to_thread(self.port.write, data)
            self.bytes_written += len(data)

    async def read(self, timeout: float | None) -> bytes | None:
        """Next chunk; ``b""`` when the port broke, ``None`` on timeout."""
        try:
            data = await asyncio.wait_for(self.chunks.get(), timeout)
        except TimeoutError:
            return None
        self.bytes_read += len(data)
        return data

    async def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            self.port.cancel_read()
        start = time.monotonic()
        while self._thread.is_alive() and time.monotonic() - start < 1.0:
            await asyncio.sleep(0.005)  # the reader wakes within POLL_S
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.port.close)  # pyserial's socket:// close sleeps


class SerialSession:
    """Runs one session on channel 0 of a serial link; ``events()`` yields its events.

    ``tap`` receives channel-1 messages (a Test Agent client); without it they are
    dropped, as a production build must (REQ-SER-009). A Responder given
    ``new_session`` serves a new message_1 that arrives while a session is
    established (the peer rebooted) in a second session, and replaces the
    established one only when the new handshake completes (REQ-SER-008).
    """

    def __init__(
        self,
        session: Session,
        port: SerialPort,
        *,
        mtu: int = DEFAULT_MTU,
        reassembly_timeout: float = DEFAULT_TIMEOUT,
        retransmit: RetransmitPolicy | None = None,
        tap: Callable[[bytes], None] | None = None,
        new_session: Callable[[], Session] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self._new_session = new_session
        self._pending: Session | None = None
        self.replacements = 0
        self.port = port
        self.mtu = mtu
        self.receiver = SerialReceiver(mtu, timeout=reassembly_timeout)
        self.retransmit = retransmit or RetransmitPolicy()
        self._tap = tap
        self._clock = clock
        self._msg_id = {CHANNEL_PROTOCOL: 0, CHANNEL_TAP: 0}
        self._initiator = session.role == "initiator"
        self._last_sent: bytes | None = None  # initiator: handshake message awaiting a reply
        self._rto_deadline: float | None = None
        self._rto = self.retransmit.initial
        self._resends_left = 0
        self._last_in: bytes | None = None  # REQ-HS-038 at this layer (see _deliver)
        self._last_out: list[bytes] = []
        self._resend: list[bytes] = []
        self.retransmissions = 0
        self.dropped_kinds = 0
        self.port_closed = False

    async def send_frame_message(self, channel: int, message: bytes) -> None:
        msg_id = self._msg_id[channel]
        self._msg_id[channel] = (msg_id + 1) % 256
        await self.port.write(encode_message(channel, msg_id, message, self.mtu))

    async def flush(self) -> None:
        pending = self._pending.data_to_send() if self._pending is not None else []
        for payload in pending + self.session.data_to_send():
            if payload[0] == KIND_HANDSHAKE:
                self._last_out.append(payload)
                if self._initiator and self.session.state is SessionState.HANDSHAKING:
                    self._arm(payload)
            await self.send_frame_message(CHANNEL_PROTOCOL, payload)

    def _arm(self, payload: bytes) -> None:
        self._last_sent = payload
        self._rto = self.retransmit.initial
        self._resends_left = self.retransmit.retransmissions
        self._rto_deadline = self._clock() + self._rto

    def _deadline(self) -> float | None:
        deadlines = [d for d in (self.session.timer_deadline, self._rto_deadline) if d is not None]
        return min(deadlines) if deadlines else None

    async def _on_timer(self) -> None:
        now = self._clock()
        if self._rto_deadline is not None and now >= self._rto_deadline:
            if (
                self._last_sent is not None
                and self._resends_left > 0
                and self.session.state is SessionState.HANDSHAKING
            ):
                self._resends_left -= 1
                self.retransmissions += 1
                self._rto *= 2
                self._rto_deadline = now + self._rto
                await self.send_frame_message(CHANNEL_PROTOCOL, self._last_sent)
            else:
                self._rto_deadline = None
        deadline = self.session.timer_deadline
        if deadline is not None and now >= deadline:
            self.session.handle_timer(now)

    def _deliver(self, payload: bytes) -> None:
        if payload[0] not in (KIND_HANDSHAKE, KIND_RECORD):
            self.dropped_kinds += 1  # REQ-SER-006: dropped, unlike TCP which closes
            return
        if payload[0] == KIND_HANDSHAKE:
            self._rto_deadline = None  # the peer answered
            self._last_sent = None
            if payload == self._last_in:
                # Byte-identical retransmission: resend our answer (REQ-HS-038) without
                # feeding the handshake the same message twice.
                self._resend = list(self._last_out)
                return
            self._last_in, self._last_out = payload, []
            if (
                self._new_session is not None
                and not self._initiator
                and self.session.state is SessionState.ESTABLISHED
            ):
                if self._pending is None:
                    self._pending = self._new_session()
                self._pending.receive(payload, self._clock())
                return
        self.session.receive(payload, self._clock())

    def _pending_event(self) -> SessionEvent | None:
        """Events of a replacement handshake; on success it becomes *the* session."""
        if self._pending is None:
            return None
        event = self._pending.next_event()
        if self._pending.state is SessionState.ESTABLISHED and event is None:
            self.session, self._pending = self._pending, None
            self.replacements += 1
        elif self._pending.state in (SessionState.FAILED, SessionState.CLOSED) and event is None:
            self._pending = None
        return event

    async def events(self) -> AsyncIterator[SessionEvent]:
        while True:
            for payload in self._resend:
                await self.send_frame_message(CHANNEL_PROTOCOL, payload)
            self._resend = []
            await self.flush()
            event = self._pending_event() or self.session.next_event()
            if event is not None:
                yield event
                continue
            if self.port_closed or self.session.state in (SessionState.CLOSED, SessionState.FAILED):
                return
            deadline = self._deadline()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            data = await self.port.read(timeout)
            if data is None:
                await self._on_timer()
                continue
            if not data:
                self.port_closed = True
                continue
            for channel, message in self.receiver.feed(data, time.monotonic()):
                if channel == CHANNEL_PROTOCOL and message:
                    self._deliver(message)
                elif channel == CHANNEL_TAP and self._tap is not None:
                    self._tap(message)

    async def aclose(self) -> None:
        await self.flush()
        await self.port.close()
