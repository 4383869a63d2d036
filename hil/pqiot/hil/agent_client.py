"""A small Test Agent Protocol client (spec chapter 13) for the reference firmware and DUTs.

Three layers, each replaceable: a *byte link* (a pipe to a child process, a socket),
a *message channel* that frames TAP messages on it (serial channel 1 with COBS/CRC,
spec §12.1, or the 4-byte length prefix of REQ-TCP-006), and :class:`TapClient`,
which numbers requests, matches responses by request_id and enforces a timeout per
command. The full harness (targets, probes, farms) builds on this; it stays synchronous
because TAP is strictly one request at a time (REQ-TAP-001).
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import IO, Protocol

from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.errors import DecodeError, ProtocolError
from pqiot.reference.framing.length_prefix import FrameDecoder, encode_frame
from pqiot.reference.framing.serial_frames import (
    CHANNEL_TAP,
    DEFAULT_MTU,
    LinkCounters,
    SerialReceiver,
    encode_message,
)

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


class Command(IntEnum):
    """TAP command codes (spec §13.3)."""

    IDENTIFY = 0
    RESET = 1
    ECHO = 2
    MLKEM_KEYGEN = 16
    MLKEM_ENCAPS = 17
    MLKEM_DECAPS = 18
    SIG_KEYGEN = 32
    SIG_SIGN = 33
    SIG_VERIFY = 34
    AEAD_SEAL = 48
    AEAD_OPEN = 49
    HKDF = 56
    KMAC = 57
    HASH = 58
    ACCUMULATED = 64
    CRED_LOAD = 80
    SESSION_START = 81
    SESSION_DELIVER = 82
    APP_SEND = 83
    APP_RECEIVE = 84
    EXPORT = 85
    KEY_UPDATE = 86
    APP_POLL = 87
    SESSION_INFO = 88
    SESSION_CLOSE = 89
    PUBLISH = 90
    SUBSCRIBE_DELIVER = 91
    MEASURE = 96


class Status(IntEnum):
    """TAP status codes (spec §13.2.1)."""

    OK = 0
    UNKNOWN_COMMAND = 1
    MALFORMED = 2
    UNSUPPORTED = 3
    TOO_LARGE = 4
    INVALID_STATE = 5
    INVALID_INPUT = 6
    PROTOCOL_ALERT = 7
    BUSY = 8
    INTERNAL = 9


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
    """TAP on serial channel 1 (spec §13.1, §12.1); channel-0 traffic is ignored here."""

    def __init__(self, link: ByteLink, mtu: int = DEFAULT_MTU) -> None:
        self.link = link
        self.mtu = mtu
        self._receiver = SerialReceiver(mtu, limits={CHANNEL_TAP: MAX_MESSAGE})
        self._pending: list[bytes] = []
        self._msg_id = 0

    @property
    def counters(self) -> LinkCounters:
        """Link errors the host side has seen (bad frames, overruns, broken messages)."""
        return self._receiver.counters

    def send_message(self, message: bytes) -> None:
        self.link.send(encode_message(CHANNEL_TAP, self._msg_id, message, self.mtu))
        self._msg_id = (self._msg_id + 1) % 256

    def send_bytes(self, data: bytes) -> None:
        """Put raw bytes on the line (line-noise tests)."""
        self.link.send(data)

    def receive_message(self, deadline: float) -> bytes | None:
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            data = self.link.receive(remaining)
            for channel, message in self._receiver.feed(data, time.monotonic()):
                if channel == CHANNEL_TAP:
                    self._pending.append(message)
        return self._pending.pop(0)


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
    try:
        value = cbor.decode(message)
    except DecodeError as exc:
        raise AgentError(f"agent response is not deterministic CBOR: {exc}") from exc
    if not isinstance(value, list) or len(value) != 3:
        raise AgentError(f"agent response is not [request_id, status, result]: {value!r}")
    request_id, status, result = value
    if (
        not (request_id is None or (isinstance(request_id, int) and request_id >= 0))
        or not isinstance(status, int)
        or isinstance(status, bool)
        or not isinstance(result, dict)
        or not all(isinstance(key, str) for key in result)
    ):
        raise AgentError(f"agent response has the wrong types: {value!r}")
    return TapResponse(request_id, status, {str(k): v for k, v in result.items()})


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
        arguments: dict[CborValue, CborValue] = {key: value for key, value in (args or {}).items()}
        payload = cbor.encode([int(command), request_id, arguments])
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
            return socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            if time.monotonic() > deadline:
                raise AgentError(f"cannot connect to the agent at {host}:{port}: {exc}") from exc
            time.sleep(0.05)


def connect_tcp(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT) -> TapClient:
    """Connect to a host build's TAP port (``pqiot-fw --listen PORT``), length-prefixed frames."""
    return TapClient(LengthPrefixedChannel(SocketLink(_connect(host, port, timeout))), timeout)


def connect_serial_tcp(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT) -> TapClient:
    """Connect to a serial line exported over TCP (QEMU ``-serial tcp:HOST:PORT,server=on``)."""
    return TapClient(SerialChannel(SocketLink(_connect(host, port, timeout))), timeout)
