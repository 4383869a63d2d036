"""`pqiot peer` over serial (socket://), MQTT (real mosquitto) and CoAP, both roles.

Like tests/cli/test_peer_cmd.py these run the real command line in
subprocesses; the initiator must print the echo and exit 0.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..transports.conftest import Broker, free_port, own_mosquitto  # noqa: F401 (fixture)
from .conftest import falcon_keystore, initiator, responder


@contextmanager
def serial_line() -> Iterator[str]:
    """A loopback TCP relay joining two socket:// serial endpoints (a null-modem cable)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port_box: list[int] = []
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        peers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        both = asyncio.Event()

        async def accept(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            peers.append((r, w))
            if len(peers) == 2:
                both.set()

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port_box.append(server.sockets[0].getsockname()[1])
        ready.set()

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            while data := await r.read(4096):
                w.write(data)
                await w.drain()

        async def relay() -> None:
            await both.wait()
            (ra, wa), (rb, wb) = peers
            await asyncio.gather(pump(ra, wb), pump(rb, wa), return_exceptions=True)

        task = asyncio.create_task(relay())
        await stop.wait()
        task.cancel()
        server.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield f"socket://127.0.0.1:{port_box[0]}"
    finally:
        if stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(5)


SUITES = [
    pytest.param("-102", False, id="suite-102-demo"),
    pytest.param("-109", True, id="suite-109-falcon-keystore"),
]


def _suite_args(suite: str, falcon: bool, tmp_path: Path, role: str) -> list[str]:
    args = ["--suite", suite]
    if falcon:
        args += ["--keystore", str(falcon_keystore(tmp_path / role, role))]
    return args


def _check(result: subprocess.CompletedProcess[str], text: str, suite: str) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout == text + "\n"
    assert (
        f"handshake completed, suite {suite}" in result.stderr or f"suite {suite}" in result.stderr
    )


@pytest.mark.parametrize(("suite", "falcon"), SUITES)
def test_peer_over_serial_socket_url(suite: str, falcon: bool, tmp_path: Path) -> None:
    with serial_line() as url, responder(url, *_suite_args(suite, falcon, tmp_path, "server")):
        result = initiator(url, "over serial", *_suite_args(suite, falcon, tmp_path, "client"))
    _check(result, "over serial", suite)


@pytest.mark.network
@pytest.mark.parametrize(
    ("suite", "falcon", "version"),
    [
        pytest.param("-102", False, "5", id="suite-102-demo-mqtt5"),
        pytest.param("-102", False, "311", id="suite-102-demo-mqtt311"),
        pytest.param("-109", True, "5", id="suite-109-falcon-keystore-mqtt5"),
    ],
)
def test_peer_over_mqtt(
    suite: str,
    falcon: bool,
    version: str,
    own_mosquitto: Broker,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    url = f"mqtt://127.0.0.1:{own_mosquitto.port}/plant1"
    common = ["--mqtt-version", version]
    with responder(
        url, "--party-id", "gw-1", *common, *_suite_args(suite, falcon, tmp_path, "server")
    ):
        result = initiator(
            url,
            "over mqtt",
            "--peer-id",
            "gw-1",
            *common,
            *_suite_args(suite, falcon, tmp_path, "client"),
        )
    _check(result, "over mqtt", suite)


@pytest.mark.parametrize(("suite", "falcon"), SUITES)
def test_peer_over_coap(suite: str, falcon: bool, tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"coap://127.0.0.1:{port}"
    with responder(url, *_suite_args(suite, falcon, tmp_path, "server")):
        result = initiator(url, "over coap", *_suite_args(suite, falcon, tmp_path, "client"))
    _check(result, "over coap", suite)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mqtt://127.0.0.1:1/bad+prefix", "REQ-MQTT-001"),
        ("serial:///dev/ttyS0?mtu=4", "128..1024"),
        ("ftp://example", "unsupported peer URL"),
    ],
)
def test_bad_binding_urls_are_usage_errors(url: str, message: str) -> None:
    result = initiator(url, "x", timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_unreachable_endpoints_fail_clearly() -> None:
    serial = initiator("/dev/pqiot-no-such-port", "x", timeout=60)
    assert serial.returncode == 1 and "cannot open serial port" in serial.stderr
    mqtt = initiator(f"mqtt://127.0.0.1:{free_port()}", "x", timeout=90)
    assert mqtt.returncode == 1 and "cannot connect" in mqtt.stderr
    for result in (serial, mqtt):
        assert "Traceback" not in result.stderr
