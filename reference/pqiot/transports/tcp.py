"""TCP binding: a session's payloads as 4-byte length-prefixed frames on a stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from pqiot.reference.errors import Alert, ProtocolError
from pqiot.reference.framing.length_prefix import MAX_FRAME, FrameDecoder, encode_frame
from pqiot.reference.session import KIND_HANDSHAKE, KIND_RECORD, Session, SessionEvent, SessionState

__all__ = ["SessionStream", "TcpAddress", "parse_tcp_url"]

READ_CHUNK = 65536


@dataclass(frozen=True)
class TcpAddress:
    host: str
    port: int


def parse_tcp_url(url: str) -> TcpAddress:
    """Parse ``tcp://HOST:PORT`` (IPv6 hosts in brackets) with errors a user can act on."""
    parts = urlsplit(url)
    if parts.scheme != "tcp":
        raise ValueError(f"{url!r}: expected a tcp://HOST:PORT URL")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r}: the port must be a number 0..65535") from exc
    if not parts.hostname or port is None:
        raise ValueError(f"{url!r}: expected a tcp://HOST:PORT URL with both host and port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url!r}: a tcp URL has no path, query or fragment")
    return TcpAddress(parts.hostname, port)


class SessionStream:
    """Runs one session over one stream: frames out, frames in, timers fired.

    ``events()`` yields every session event in order and ends when the session
    is over and the peer closed the stream (or the stream broke).
    """

    def __init__(
        self,
        session: Session,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        clock: Callable[[], float] = time.time,
        max_frame: int = MAX_FRAME,
    ) -> None:
        self.session = session
        self._reader = reader
        self._writer = writer
        self._clock = clock
        self._decoder = FrameDecoder(max_frame)
        self._max_frame = max_frame
        self.bytes_sent = 0
        self.bytes_received = 0
        self.peer_closed = False

    async def flush(self) -> None:
        """Send everything the session has queued."""
        payloads = self.session.data_to_send()
        if not payloads or self._writer.is_closing():
            return
        for payload in payloads:
            frame = encode_frame(payload, self._max_frame)
            self.bytes_sent += len(frame)
            self._writer.write(frame)
        try:
            await self._writer.drain()
        except ConnectionError:
            self.peer_closed = True

    async def events(self) -> AsyncIterator[SessionEvent]:
        while True:
            await self.flush()
            event = self.session.next_event()
            if event is not None:
                yield event
                continue
            if self.peer_closed or self.session.state in (SessionState.CLOSED, SessionState.FAILED):
                return
            await self._receive_once()

    async def _receive_once(self) -> None:
        deadline = self.session.timer_deadline
        timeout = None if deadline is None else max(0.0, deadline - self._clock())
        try:
            data = await asyncio.wait_for(self._reader.read(READ_CHUNK), timeout)
        except TimeoutError:
            self.session.handle_timer(self._clock())
            return
        except ConnectionError:
            data = b""
        if not data:
            self.peer_closed = True
            return
        self.bytes_received += len(data)
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as exc:
            # The stream itself is corrupt or hostile: there is no way to resync a
            # length-prefixed stream, so the session ends here.
            self.session.close(self._clock(), exc.alert, exc.detail)
            self.peer_closed = True
            await self.flush()
            return
        for frame in frames:
            if frame[0] not in (KIND_HANDSHAKE, KIND_RECORD):
                # REQ-TCP-005: a reserved kind ends the connection (serial drops instead).
                self.session.close(
                    self._clock(), Alert.DECODE_ERROR, f"reserved kind 0x{frame[0]:02x}"
                )
                self.peer_closed = True
                await self.flush()
                return
            self.session.receive(frame, self._clock())

    async def aclose(self) -> None:
        await self.flush()
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
