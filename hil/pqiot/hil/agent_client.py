"""A small Test Agent Protocol client (spec chapter 13) for the reference firmware and DUTs.

Three layers, each replaceable: a *byte link* (a pipe to a child process, a socket),
a *message channel* that frames TAP messages on it (serial channel 1 with COBS/CRC,
spec §12.1, or the 4-byte length prefix of REQ-TCP-006), and :class:`TapClient`,
which numbers requests, matches responses by request_id and enforces a timeout per
command. The full harness (targets, probes, farms) builds on this; it stays synchronous
because TAP is strictly one request at a time (REQ-TAP-001).

On a serial link the same line also carries channel 0, the protocol's serial binding:
:meth:`TapClient.link_send` / :meth:`TapClient.link_receive` put and take whole channel-0
messages (``kind || body``) there, so a test can be the DUT's protocol peer while it drives
the DUT through TAP (SESSION_START with ``transport: "link"``).

Command and status codes and the ``tap_request``/``tap_response`` shapes are the codec's
(:mod:`pqiot.reference.tap.codes`, :mod:`pqiot.reference.tap.messages`): one table for the
reference agent, the firmware tests and this client. ``Command`` and ``Status`` stay
importable from here for the tests and tools that already do.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from pqiot.reference.cbor import CborValue
from pqiot.reference.errors import DecodeError, ProtocolError
from pqiot.reference.framing.length_prefix import FrameDecoder, encode_frame
from pqiot.reference.framing.serial_frames import (
    CHANNEL_PROTOCOL,
    CHANNEL_TAP,
    DEFAULT_MTU,
    MAX_PROTOCOL_MESSAGE,
    LinkCounters,
    SerialReceiver,
    encode_message,
)
from pqiot.reference.tap import messages
from pqiot.reference.tap.codes import Command, Status

__all__ = [
    "AgentError",
    "AgentTimeout",
    "Command",
    "LengthPrefixedChannel",
    "SerialChannel",
    "Status",
    "TapClient",
    "TapResponse",
    "connect_serial_tcp",
    "connect_tcp",
    "spawn_host",
    "spawn_qemu",
]

DEFAULT_TIMEOUT = 10.0
#: Largest TAP message this client accepts (above any DUT's max_tap_response we expect).
MAX_MESSAGE = 65536


class AgentError(Exception):
    """The link to the agent failed: it closed, or answered with something that is not TAP."""


class AgentTimeout(AgentError):
    """No response within the command's timeout (the DUT may be hung: REQ-TAP-005)."""


@dataclass(frozen=True)
class TapResponse:
    """One decoded ``tap_response``."""

    request_id: int | None
    status: int
    result: dict[str, CborValue]

    def ok(self) -> dict[str, CborValue]:
        """The result of a successful command; raise :class:`AgentError` for any other status."""
        if self.status != Status.OK:
            raise AgentError(f"agent answered status {self.status}: {self.result!r}")
        return self.result


# --- byte links ---------------------------------------------------------------------------


class ByteLink(Protocol):
    """A bidirectional byte stream with a receive timeout."""

    def send(self, data: bytes) -> None: ...

    def receive(self, timeout: float) -> bytes:
        """Return available bytes; ``b""`` if none arrived in time; raise AgentError at EOF."""
        ...

    def close(self) -> None: ...


class PipeLink:
    """The stdin/stdout pipes of a child process (host firmware, QEMU with ``-serial stdio``)."""

    def __init__(self, process: subprocess.Popen[bytes], stderr: IO[bytes] | None = None) -> None:
        if process.stdin is None or process.stdout is None:
            raise ValueError("start the process with stdin=PIPE and stdout=PIPE")
        self._process = process
        self._stdin = process.stdin
        self._stdout_fd = process.stdout.fileno()
        self._stderr = stderr

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode(errors="replace").strip()
        return f"; its stderr ends with: {tail}" if tail else ""

    def send(self, data: bytes) -> None:
        try:
            self._stdin.write(data)
            self._stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise AgentError(
                f"agent process exited (code {self._process.poll()}){self._stderr_tail()}"
            ) from exc

    def receive(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self._stdout_fd], [], [], max(timeout, 0.0))
        if not ready:
            return b""
        data = os.read(self._stdout_fd, 65536)
        if not data:
            code = self._process.wait(timeout=5)
            raise AgentError(
                f"agent process closed its output (exit code {code}){self._stderr_tail()}"
            )
        return data

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdin, self._process.stdout, self._stderr):
            if stream is not None:
                stream.close()


class SocketLink:
    """A connected TCP socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise AgentError(f"TAP connection failed while sending: {exc}") from exc

    def receive(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self._sock], [], [], max(timeout, 0.0))
        if not ready:
            return b""
        try:
            data = self._sock.recv(65536)
        except OSError as exc:
            raise AgentError(f"TAP connection failed while receiving: {exc}") from exc
        if not data:
            raise AgentError("the agent closed the TAP connection")
        return data

    def close(self) -> None:
        self._sock.close()


# --- message channels ---------------------------------------------------------------------


class MessageChannel(Protocol):
    """Carries whole TAP messages over a byte link."""

    link: ByteLink

    def send_message(self, message: bytes) -> None: ...

    def receive_message(self, deadline: float) -> bytes | None:
        """The next TAP message, or None once ``time.monotonic()`` passes ``deadline``."""
        ...


class SerialChannel:
    """TAP on serial channel 1 (spec §13.1, §12.1), the protocol's channel 0 beside it.

    Channel-0 messages that arrive while a TAP reply is awaited are queued for
    :meth:`receive_protocol`, and TAP replies that arrive while channel 0 is awaited are
    queued for :meth:`receive_message`: neither channel ever sees the other's traffic
    (REQ-SER-009), and nothing is dropped for arriving at the "wrong" moment.
    """

    def __init__(self, link: ByteLink, mtu: int = DEFAULT_MTU) -> None:
        self.link = link
        self.mtu = mtu
        self._receiver = SerialReceiver(
            mtu, limits={CHANNEL_PROTOCOL: MAX_PROTOCOL_MESSAGE, CHANNEL_TAP: MAX_MESSAGE}
        )
        self._pending: deque[bytes] = deque()
        self._protocol: deque[bytes] = deque()
        self._msg_id = 0
        self._protocol_msg_id = 0

    @property
    def counters(self) -> LinkCounters:
        """Link errors the host side has seen (bad frames, overruns, broken messages)."""
        return self._receiver.counters

    def send_message(self, message: bytes) -> None:
        self.link.send(encode_message(CHANNEL_TAP, self._msg_id, message, self.mtu))
        self._msg_id = (self._msg_id + 1) % 256

    def send_protocol(self, message: bytes) -> None:
        """One channel-0 message (``kind || body``) with the next msg_id (REQ-SER-001, -010)."""
        self.link.send(encode_message(CHANNEL_PROTOCOL, self._protocol_msg_id, message, self.mtu))
        self._protocol_msg_id = (self._protocol_msg_id + 1) % 256

    def send_bytes(self, data: bytes) -> None:
        """Put raw bytes on the line (line-noise tests)."""
        self.link.send(data)

    def _read(self, deadline: float, queue: deque[bytes]) -> bytes | None:
        while not queue:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            data = self.link.receive(remaining)
            for channel, message in self._receiver.feed(data, time.monotonic()):
                (self._pending if channel == CHANNEL_TAP else self._protocol).append(message)
        return queue.popleft()

    def receive_message(self, deadline: float) -> bytes | None:
        return self._read(deadline, self._pending)

    def receive_protocol(self, deadline: float) -> bytes | None:
        """The next reassembled channel-0 message, or None once ``deadline`` passes."""
        return self._read(deadline, self._protocol)


class LengthPrefixedChannel:
    """TAP on a dedicated TCP connection with the 4-byte length prefix (REQ-TCP-006)."""

    def __init__(self, link: ByteLink) -> None:
        self.link = link
        self._decoder = FrameDecoder(MAX_MESSAGE)
        self._pending: list[bytes] = []

    def send_message(self, message: bytes) -> None:
        self.link.send(encode_frame(message, MAX_MESSAGE))

    def send_bytes(self, data: bytes) -> None:
        """Put raw bytes on the connection (framing tests)."""
        self.link.send(data)

    def receive_message(self, deadline: float) -> bytes | None:
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            data = self.link.receive(remaining)
            try:
                self._pending.extend(self._decoder.feed(data))
            except (DecodeError, ProtocolError) as exc:
                raise AgentError(f"agent broke the TCP framing: {exc}") from exc
        return self._pending.pop(0)


# --- the client -----------------------------------------------------------------------------


def _decode_response(message: bytes) -> TapResponse:
    """The codec's ``tap_response`` (spec §13.2) as this client's :class:`TapResponse`."""
    try:
        decoded = messages.decode_response(message)
    except DecodeError as exc:
        raise AgentError(f"agent response is not a TAP response: {exc}") from exc
    return TapResponse(decoded.request_id, decoded.status, decoded.result)


class TapClient:
    """Send TAP requests one at a time and wait for the matching response."""

    def __init__(self, channel: MessageChannel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.channel = channel
        self.timeout = timeout
        self._next_id = 1

    def __enter__(self) -> TapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.link.close()

    def call(
        self,
        command: int,
        args: Mapping[str, CborValue] | None = None,
        *,
        timeout: float | None = None,
    ) -> TapResponse:
        """Send ``[command, request_id, args]`` and return the response to it."""
        request_id = self._next_id
        self._next_id += 1
        payload = messages.encode_request(command, request_id, args or {})
        return self._exchange(payload, request_id, timeout)

    def call_raw(self, payload: bytes, *, timeout: float | None = None) -> TapResponse:
        """Send an arbitrary (possibly malformed) TAP message and return the next response."""
        return self._exchange(payload, None, timeout)

    def _exchange(
        self, payload: bytes, request_id: int | None, timeout: float | None
    ) -> TapResponse:
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        self.channel.send_message(payload)
        while True:
            message = self.channel.receive_message(deadline)
            if message is None:
                raise AgentTimeout(f"no TAP response within {limit:.1f} s")
            response = _decode_response(message)
            # Responses to earlier, timed-out requests are stale: skip them.
            if request_id is None or response.request_id in (request_id, None):
                return response

    # -- serial channel 0 (spec §12.1): the DUT's protocol link beside TAP -----------------

    def _serial(self) -> SerialChannel:
        if not isinstance(self.channel, SerialChannel):
            raise AgentError(
                "channel 0 exists only on a serial link (serial+tcp://, serial+stdio://, a UART); "
                "this target carries TAP with the TCP length prefix"
            )
        return self.channel

    def link_send(self, message: bytes) -> None:
        """Send one channel-0 message, ``kind || body`` (kind 0 handshake, 1 record), with a
        fresh msg_id: a resend of the same bytes is a new message, as REQ-SER-010 wants."""
        if not message:
            raise ValueError("a channel-0 message starts with its kind byte")
        self._serial().send_protocol(message)

    def link_receive(self, timeout: float) -> bytes | None:
        """The next reassembled channel-0 message (``kind || body``), or None after ``timeout``
        seconds. Messages that arrived during earlier TAP calls are returned first."""
        return self._serial().receive_protocol(time.monotonic() + timeout)

    @property
    def link_counters(self) -> LinkCounters:
        """Link errors the host side has counted on this serial line (REQ-SER-011)."""
        return self._serial().counters

    def identify(self) -> dict[str, CborValue]:
        """The DUT's conformance statement (spec §13.4)."""
        return self.call(Command.IDENTIFY).ok()

    # -- protocol roles (spec §13.5); each returns the raw response so callers see alerts ----

    def cred_load(self, slot: str, **args: CborValue) -> TapResponse:
        """CRED_LOAD: ``ccs`` plus ``sk`` (own) or ``trust`` (peer)."""
        return self.call(Command.CRED_LOAD, {"slot": slot, **args})

    def session_start(self, role: str, **args: CborValue) -> TapResponse:
        """SESSION_START with ``role`` and the §13.5 arguments (``method``, ``suites``, ...)."""
        return self.call(Command.SESSION_START, {"role": role, **args})

    def session_deliver(self, session: int, msg: bytes) -> TapResponse:
        """SESSION_DELIVER one EDHOC message; ``out`` holds what the DUT answers."""
        return self.call(Command.SESSION_DELIVER, {"session": session, "msg": msg})

    def export(self, session: int, label: int, length: int, context: bytes = b"") -> TapResponse:
        """EXPORT = EDHOC_Exporter(label, context, length) of a session in state DONE."""
        args: dict[str, CborValue] = {"session": session, "label": label, "len": length}
        return self.call(Command.EXPORT, {**args, "context": context})


# --- launchers ------------------------------------------------------------------------------


def spawn_host(
    binary: str | Path, *, timeout: float = DEFAULT_TIMEOUT, wrapper: Sequence[str] = ()
) -> TapClient:
    """Start a host firmware build with TAP on its stdin/stdout (serial framing).

    ``wrapper`` prefixes the command line, e.g. ``["valgrind", "--error-exitcode=99"]``.
    """
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - owned and closed by the PipeLink
    process = subprocess.Popen(
        [*wrapper, str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
    )
    return TapClient(SerialChannel(PipeLink(process, stderr)), timeout)


def qemu_command(elf: str | Path, *, icount: bool = True, serial: str = "stdio") -> list[str]:
    """The QEMU command line for the mps2-an386 (Cortex-M4) image.

    ``-icount shift=0`` makes SysTick advance with executed instructions (one tick per
    40 instructions at the board's 25 MHz), which is what the firmware reports as its
    ``qemu-icount`` regression proxy.
    """
    command = ["qemu-system-arm", "-M", "mps2-an386", "-display", "none", "-monitor", "none"]
    command += ["-serial", serial, "-kernel", str(elf)]
    if icount:
        command += ["-icount", "shift=0"]
    return command


def spawn_qemu(
    elf: str | Path, *, timeout: float = DEFAULT_TIMEOUT, icount: bool = True
) -> TapClient:
    """Boot the Cortex-M4 image in QEMU with UART0 on QEMU's stdin/stdout."""
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - owned and closed by the PipeLink
    process = subprocess.Popen(
        qemu_command(elf, icount=icount),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    return TapClient(SerialChannel(PipeLink(process, stderr)), timeout)


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            if time.monotonic() > deadline:
                raise AgentError(f"cannot connect to the agent at {host}:{port}: {exc}") from exc
            time.sleep(0.05)
        else:
            # A request is one sendall; without NODELAY a fragment's tail could wait for an ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock


def connect_tcp(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT) -> TapClient:
    """Connect to a host build's TAP port (``pqiot-fw --listen PORT``), length-prefixed frames."""
    return TapClient(LengthPrefixedChannel(SocketLink(_connect(host, port, timeout))), timeout)


def connect_serial_tcp(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT) -> TapClient:
    """Connect to a serial line exported over TCP (QEMU ``-serial tcp:HOST:PORT,server=on``)."""
    return TapClient(SerialChannel(SocketLink(_connect(host, port, timeout))), timeout)
