"""Peer URLs for every binding, parsed once with errors a user can act on.

``tcp://HOST:PORT``; serial as pyserial understands it (``/dev/ttyUSB0``,
``COM3``, ``serial:///dev/ttyUSB0?baud=115200&mtu=256``, ``socket://HOST:PORT``,
``rfc2217://HOST:PORT``, ``loop://``); ``mqtt://HOST:PORT[/prefix/levels]``;
``coap://HOST:PORT``. Parsing never touches the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "CoapUrl",
    "MqttUrl",
    "PeerUrl",
    "SerialUrl",
    "TcpUrl",
    "parse_peer_url",
]

DEFAULT_BAUD = 115200
DEFAULT_MQTT_PORT = 1883
DEFAULT_COAP_PORT = 5683
_LEVEL = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SCHEMES = ("tcp://", "serial://", "socket://", "rfc2217://", "loop://", "mqtt://", "coap://")


@dataclass(frozen=True)
class TcpUrl:
    host: str
    port: int


@dataclass(frozen=True)
class SerialUrl:
    """``port`` is what ``serial.serial_for_url`` opens; ``mtu`` is the frame MTU (REQ-SER-002)."""

    port: str
    baudrate: int = DEFAULT_BAUD
    mtu: int = 256


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    prefix: str  # one or more topic levels (REQ-MQTT-001), "pqiot-default" when none given


@dataclass(frozen=True)
class CoapUrl:
    host: str
    port: int


PeerUrl = TcpUrl | SerialUrl | MqttUrl | CoapUrl


def _host_port(url: str, default_port: int | None) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port if parts.port is not None else default_port
    except ValueError as exc:
        raise ValueError(f"{url!r}: the port must be a number 0..65535") from exc
    if not parts.hostname or port is None:
        raise ValueError(f"{url!r}: expected {parts.scheme}://HOST:PORT with both host and port")
    return parts.hostname, port


def _no_extras(url: str, *, path: bool = True) -> None:
    parts = urlsplit(url)
    if (path and parts.path not in ("", "/")) or parts.query or parts.fragment:
        raise ValueError(f"{url!r}: a {parts.scheme} URL has no path, query or fragment")


def _serial(url: str) -> SerialUrl:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query, strict_parsing=False).items()}
    unknown = set(query) - {"baud", "mtu"}
    if unknown:
        raise ValueError(f"{url!r}: unknown serial option(s) {sorted(unknown)}; use baud= and mtu=")
    try:
        baud = int(query.get("baud", DEFAULT_BAUD))
        mtu = int(query.get("mtu", 256))
    except ValueError as exc:
        raise ValueError(f"{url!r}: baud and mtu must be integers") from exc
    if not 128 <= mtu <= 1024:
        raise ValueError(f"{url!r}: mtu must be 128..1024 (REQ-SER-002)")
    if baud <= 0:
        raise ValueError(f"{url!r}: baud must be positive")
    if parts.scheme == "serial":
        device = parts.netloc + parts.path  # serial:///dev/ttyX or serial://COM3
        if not device:
            raise ValueError(
                f"{url!r}: expected serial:///dev/ttyX (three slashes) or serial://COM3"
            )
        return SerialUrl(device, baud, mtu)
    # socket://, rfc2217://, loop:// go to pyserial untouched except our own options.
    if parts.scheme in ("socket", "rfc2217"):
        _host_port(url, None)
    return SerialUrl(url.split("?", 1)[0], baud, mtu)


def _mqtt(url: str) -> MqttUrl:
    host, port = _host_port(url, DEFAULT_MQTT_PORT)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: an mqtt URL has no query or fragment")
    levels = parts.path.split("/")[1:] if parts.path else []
    if levels and levels[-1] == "":
        levels.pop()
    for level in levels:
        if not _LEVEL.match(level):
            raise ValueError(
                f"{url!r}: topic prefix level {level!r} must be 1..64 characters from "
                "A-Z a-z 0-9 . _ - (REQ-MQTT-001)"
            )
    return MqttUrl(host, port, "/".join(levels) or "pqiot-default")


def parse_peer_url(url: str) -> PeerUrl:
    """Parse any peer URL; ``ValueError`` names the accepted forms."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "tcp":
        _no_extras(url)
        return TcpUrl(*_host_port(url, None))
    if scheme == "mqtt":
        return _mqtt(url)
    if scheme == "coap":
        _no_extras(url)
        return CoapUrl(*_host_port(url, DEFAULT_COAP_PORT))
    if scheme in ("serial", "socket", "rfc2217", "loop"):
        return _serial(url)
    if url.startswith("/dev/") or re.fullmatch(r"COM\d+", url, re.IGNORECASE):
        return SerialUrl(url)
    raise ValueError(
        f"{url!r}: unsupported peer URL; use tcp://HOST:PORT, a serial port (/dev/ttyUSB0, "
        "serial:///dev/ttyUSB0?baud=115200, socket://HOST:PORT, rfc2217://HOST:PORT), "
        "mqtt://HOST:PORT[/prefix] or coap://HOST:PORT"
    )
