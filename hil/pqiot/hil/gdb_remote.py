"""A small GDB remote serial protocol client (QEMU's gdbstub, OpenOCD, JLinkGDBServer).

Just what the harness needs from a debug probe: halt and resume, reset (through
``monitor`` = ``qRcmd``), read and write memory (stack high-water marks, the
cycle counter), read registers, software breakpoints. Packets are
``$payload#checksum`` with ``+``/``-`` acknowledgements (no-ack mode is not
requested, so every packet is checked end to end); responses may use
run-length encoding and ``}`` escapes, both decoded here.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass

__all__ = ["GdbError", "GdbRemote", "StopReply", "checksum", "decode_payload", "encode_packet"]

_INTERRUPT = b"\x03"


class GdbError(Exception):
    """The GDB server refused a request, broke the protocol, or went away."""


def checksum(payload: bytes) -> int:
    return sum(payload) % 256


def _escape(payload: bytes) -> bytes:
    out = bytearray()
    for byte in payload:
        if byte in b"#$}*":
            out += bytes([0x7D, byte ^ 0x20])
        else:
            out.append(byte)
    return bytes(out)


def encode_packet(payload: bytes) -> bytes:
    """``$payload#xx`` with binary-safe escaping of ``#$}*``."""
    body = _escape(payload)
    return b"$" + body + b"#" + f"{checksum(body):02x}".encode()


def decode_payload(body: bytes) -> bytes:
    """Undo ``}`` escapes and ``*`` run-length encoding of a received packet body."""
    out = bytearray()
    index = 0
    while index < len(body):
        byte = body[index]
        if byte == 0x7D and index + 1 < len(body):
            out.append(body[index + 1] ^ 0x20)
            index += 2
        elif byte == 0x2A and out and index + 1 < len(body):
            out += bytes([out[-1]]) * (body[index + 1] - 29)
            index += 2
        else:
            out.append(byte)
            index += 1
    return bytes(out)


@dataclass(frozen=True)
class StopReply:
    """``S``/``T`` stop reply: the signal and, for ``T``, the reported registers/thread."""

    signal: int
    info: dict[str, str]
    raw: str


def _parse_stop(reply: str) -> StopReply:
    if not reply or reply[0] not in "ST" or len(reply) < 3:
        if reply.startswith(("W", "X")):
            raise GdbError(f"the target exited or was killed: {reply}")
        raise GdbError(f"expected a stop reply, got {reply!r}")
    info: dict[str, str] = {}
    for item in reply[3:].split(";"):
        if ":" in item:
            key, value = item.split(":", 1)
            info[key] = value
    return StopReply(int(reply[1:3], 16), info, reply)


class GdbRemote:
    """One connection to a GDB server; every method is one or a few request/response exchanges."""

    def __init__(self, sock: socket.socket, timeout: float = 10.0) -> None:
        self._sock = sock
        self.timeout = timeout
        self._buffer = bytearray()
        self.packet_size = 4096
        self.features: dict[str, str] = {}
        self.running = False
        self.retransmissions = 0

    @classmethod
    def connect(cls, address: str, *, timeout: float = 10.0) -> GdbRemote:
        """Connect to ``HOST:PORT`` (retrying while the server starts) and negotiate features."""
        host, _, port = address.rpartition(":")
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout)
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise GdbError(f"no GDB server at {address}: {exc}") from exc
                time.sleep(0.05)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        remote = cls(sock, timeout)
        remote.query_supported()
        return remote

    # -- packet layer -------------------------------------------------------------------

    def _recv_some(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise GdbError(f"no answer from the GDB server within {self.timeout:.1f} s")
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise GdbError(f"no answer from the GDB server within {self.timeout:.1f} s") from None
        except OSError as exc:
            raise GdbError(f"GDB connection failed: {exc}") from exc
        if not data:
            raise GdbError("the GDB server closed the connection")
        self._buffer += data

    def _read_packet(self, deadline: float) -> bytes:
        """The next packet's decoded payload; acks it (``+``), or nacks a bad checksum (``-``)."""
        while True:
            start = self._buffer.find(b"$")
            if start >= 0:
                end = self._buffer.find(b"#", start)
                if end >= 0 and len(self._buffer) >= end + 3:
                    body = bytes(self._buffer[start + 1 : end])
                    sent = bytes(self._buffer[end + 1 : end + 3])
                    del self._buffer[: end + 3]
                    if sent.lower() == f"{checksum(body):02x}".encode():
                        self._sock.sendall(b"+")
                        return decode_payload(body)
                    self._sock.sendall(b"-")
                    continue
            self._recv_some(deadline)

    def _send_packet(self, payload: bytes) -> None:
        """Send until the server acknowledges it with ``+`` (resend on ``-``)."""
        packet = encode_packet(payload)
        deadline = time.monotonic() + self.timeout
        for _ in range(5):
            self._sock.sendall(packet)
            while True:
                # Acks precede any packet; skip stray bytes that are neither.
                while self._buffer and bytes(self._buffer[:1]) not in (b"+", b"-", b"$"):
                    del self._buffer[:1]
                if self._buffer[:1] == b"+":
                    del self._buffer[:1]
                    return
                if self._buffer[:1] == b"-":
                    del self._buffer[:1]
                    self.retransmissions += 1
                    break
                if self._buffer[:1] == b"$":
                    raise GdbError("the server sent a packet where an acknowledgement was due")
                self._recv_some(deadline)
        raise GdbError("the GDB server rejected the packet 5 times (checksum errors)")

    def request(self, payload: str | bytes) -> str:
        """Send one packet and return the reply; ``Exx`` replies raise GdbError."""
        data = payload.encode() if isinstance(payload, str) else payload
        self._send_packet(data)
        reply = self._read_packet(time.monotonic() + self.timeout).decode("latin-1")
        if (
            len(reply) == 3
            and reply[0] == "E"
            and all(c in "0123456789abcdefABCDEF" for c in reply[1:])
        ):
            raise GdbError(f"{data[:40]!r} failed with error {reply}")
        return reply

    # -- commands -----------------------------------------------------------------------

    def query_supported(self) -> dict[str, str]:
        reply = self.request("qSupported:swbreak+;hwbreak+;vContSupported+")
        for item in reply.split(";"):
            if "=" in item:
                key, value = item.split("=", 1)
                self.features[key] = value
            elif item:
                self.features[item.rstrip("+-")] = item[-1]
        if "PacketSize" in self.features:
            self.packet_size = int(self.features["PacketSize"], 16)
        return self.features

    def halt_reason(self) -> StopReply:
        return _parse_stop(self.request("?"))

    def interrupt(self) -> StopReply:
        """Halt a running target (the ``0x03`` byte) and return its stop reply."""
        self._sock.sendall(_INTERRUPT)
        self.running = False
        return _parse_stop(self._read_packet(time.monotonic() + self.timeout).decode("latin-1"))

    def cont(self) -> None:
        """Resume; the stop reply is collected by :meth:`wait_stop` or :meth:`interrupt`."""
        self._send_packet(b"vCont;c" if self._vcont_has("c") else b"c")
        self.running = True

    def wait_stop(self, timeout: float | None = None) -> StopReply:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        reply = _parse_stop(self._read_packet(deadline).decode("latin-1"))
        self.running = False
        return reply

    def step(self) -> StopReply:
        return _parse_stop(self.request("vCont;s" if self._vcont_has("s") else "s"))

    def _vcont_has(self, action: str) -> bool:
        if "vcont" not in self.features:
            try:
                reply = self._request_plain("vCont?")
            except GdbError:
                reply = ""
            self.features["vcont"] = reply
        return f";{action}" in self.features["vcont"]

    def _request_plain(self, payload: str) -> str:
        self._send_packet(payload.encode())
        return self._read_packet(time.monotonic() + self.timeout).decode("latin-1")

    def read_registers(self) -> list[int]:
        """Arm core registers r0..r15 (sp = r13, pc = r15) from the ``g`` block.

        Only the first 16 words are read: what follows depends on the server's
        target description (FPA registers, xPSR) and is not needed here.
        """
        data = bytes.fromhex(self.request("g"))
        if len(data) < 64:
            raise GdbError(f"register block of {len(data)} bytes is too short for an Arm core")
        return [int.from_bytes(data[i : i + 4], "little") for i in range(0, 64, 4)]

    def read_memory(self, address: int, length: int) -> bytes:
        chunk = max(16, (self.packet_size - 16) // 2)
        out = bytearray()
        while len(out) < length:
            n = min(chunk, length - len(out))
            reply = self.request(f"m{address + len(out):x},{n:x}")
            data = bytes.fromhex(reply)
            if not data:
                raise GdbError(f"empty read at 0x{address + len(out):08x}")
            out += data
        return bytes(out)

    def write_memory(self, address: int, data: bytes) -> None:
        chunk = max(16, (self.packet_size - 32) // 2)
        for offset in range(0, len(data), chunk):
            part = data[offset : offset + chunk]
            reply = self.request(f"M{address + offset:x},{len(part):x}:{part.hex()}")
            if reply != "OK":
                raise GdbError(f"write at 0x{address + offset:08x} answered {reply!r}")

    def set_breakpoint(self, address: int, kind: int = 2) -> None:
        if self.request(f"Z0,{address:x},{kind:x}") != "OK":
            raise GdbError(f"the server does not support software breakpoints at 0x{address:08x}")

    def remove_breakpoint(self, address: int, kind: int = 2) -> None:
        if self.request(f"z0,{address:x},{kind:x}") != "OK":
            raise GdbError(f"cannot remove the breakpoint at 0x{address:08x}")

    def monitor(self, command: str) -> str:
        """``monitor COMMAND`` (``qRcmd``): the server's console output, decoded."""
        self._send_packet(b"qRcmd," + command.encode().hex().encode())
        output = []
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_packet(deadline).decode("latin-1")
            if reply.startswith("O") and reply != "OK":
                output.append(bytes.fromhex(reply[1:]).decode(errors="replace"))
                continue
            if reply == "OK" or reply == "":
                if reply == "":
                    raise GdbError(f"the server does not implement monitor {command!r}")
                return "".join(output)
            if reply.startswith("E"):
                raise GdbError(f"monitor {command!r} failed: {reply}")
            output.append(bytes.fromhex(reply).decode(errors="replace"))
            return "".join(output)

    def kill(self) -> None:
        """``k``: the server ends the debugged process (QEMU quits). No reply is required."""
        with contextlib.suppress(GdbError):
            self._send_packet(b"k")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
