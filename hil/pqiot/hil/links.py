"""Byte links the harness opens from a target's transport URL (spec §13.1).

``tcp://`` is TAP with the 4-byte length prefix (host builds, REQ-TCP-006); the
``serial`` schemes carry serial channel 1 (COBS + CRC, §12.1) over a TCP socket
(QEMU's UART server, ser2net, a labgrid exporter), a child's stdin/stdout, or a
real UART through pyserial. A serial URL may end in ``?mtu=N`` (128..1024, default
256): the MTU the DUT is configured with, since both ends must use the same
(REQ-SER-002).
"""

from __future__ import annotations

import importlib
import select
import socket
import subprocess
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pqiot.hil.agent_client import (
    AgentError,
    LengthPrefixedChannel,
    PipeLink,
    SerialChannel,
    SocketLink,
    TapClient,
)
from pqiot.reference.framing.serial_frames import DEFAULT_MTU, MAX_MTU, MIN_MTU

__all__ = ["PySerialLink", "connect_url", "free_port", "serial_mtu", "wait_for_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the launched program binds it right away)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise AgentError(f"transport URL {url!r} needs HOST:PORT")
    return parts.hostname, parts.port


def wait_for_port(host: str, port: int, timeout: float) -> socket.socket:
    """Connect, retrying until ``timeout``: the target may still be starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            if time.monotonic() > deadline:
                raise AgentError(
                    f"nothing accepts connections on {host}:{port} after {timeout:.0f} s: {exc}"
                ) from exc
            time.sleep(0.05)


class PySerialLink:
    """A real UART (or rfc2217) through pyserial; a ByteLink for :class:`SerialChannel`."""

    def __init__(self, url: str, baudrate: int) -> None:
        try:
            serial: Any = importlib.import_module("serial")
        except ImportError as exc:  # pragma: no cover - pyserial is a dependency of the transports
            raise AgentError("pyserial is not installed: pip install pyserial") from exc
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0)
        except (serial.SerialException, ValueError) as exc:
            raise AgentError(
                f"cannot open serial port {url}: {exc}; is the board connected?"
            ) from exc

    def send(self, data: bytes) -> None:
        self._port.write(data)
        self._port.flush()

    def receive(self, timeout: float) -> bytes:
        fileno = getattr(self._port, "fileno", None)
        if fileno is not None:
            try:
                select.select([fileno()], [], [], max(timeout, 0.0))
            except (OSError, ValueError):
                time.sleep(min(timeout, 0.01))
        else:
            time.sleep(min(timeout, 0.01))
        return bytes(self._port.read(65536))

    def close(self) -> None:
        self._port.close()


def serial_mtu(url: str) -> int:
    """The ``mtu`` query of a serial transport URL, or the default 256 (REQ-SER-002)."""
    values = parse_qs(urlsplit(url).query).get("mtu")
    if not values:
        return DEFAULT_MTU
    try:
        mtu = int(values[0])
    except ValueError:
        mtu = -1
    if not MIN_MTU <= mtu <= MAX_MTU:
        raise AgentError(
            f"transport URL {url!r}: mtu must be {MIN_MTU}..{MAX_MTU} (REQ-SER-002), the "
            "serial_mtu the DUT is built with"
        )
    return mtu


def connect_url(
    url: str,
    *,
    timeout: float,
    connect_timeout: float,
    process: subprocess.Popen[bytes] | None = None,
) -> TapClient:
    """Open the TAP channel ``url`` names (placeholders already substituted)."""
    scheme = url.split("://", 1)[0]
    if scheme == "tcp":
        return TapClient(
            LengthPrefixedChannel(SocketLink(wait_for_port(*_host_port(url), connect_timeout))),
            timeout,
        )
    if scheme == "serial+tcp":
        mtu = serial_mtu(url)
        link = SocketLink(wait_for_port(*_host_port(url), connect_timeout))
        return TapClient(SerialChannel(link, mtu), timeout)
    if scheme == "serial+stdio":
        if process is None:
            raise AgentError("serial+stdio:// needs a launched process")
        return TapClient(SerialChannel(PipeLink(process), serial_mtu(url)), timeout)
    if scheme in ("serial", "rfc2217"):
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        baud = int(query.get("baud", ["115200"])[0])
        port = parts.path if scheme == "serial" else f"rfc2217://{parts.netloc}"
        mtu = serial_mtu(url)
        return TapClient(SerialChannel(PySerialLink(port, baud), mtu), timeout)
    raise AgentError(f"unknown TAP transport scheme in {url!r}")
