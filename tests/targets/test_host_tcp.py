"""The host build's TAP over TCP with the 4-byte length prefix (REQ-TCP-006, REQ-TAP-006)."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from pqiot.hil.agent_client import Command, Status, TapClient, connect_tcp

from .conftest import build_image

ECHO = {"data": b"\x00tcp\xff"}


@pytest.fixture(scope="module")
def tcp_port() -> Iterator[int]:
    binary = build_image("host")
    process = subprocess.Popen(
        [str(binary), "--listen", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"listening on [\d.]+:(\d+)", line)
        assert match, f"unexpected first line from pqiot-fw --listen: {line!r}"
        yield int(match.group(1))
    finally:
        process.terminate()
        process.wait(timeout=5)


@pytest.fixture
def client(tcp_port: int) -> Iterator[TapClient]:
    with connect_tcp("127.0.0.1", tcp_port, timeout=10) as tap:
        yield tap


def test_identify_and_echo_over_tcp(client: TapClient) -> None:
    assert client.identify()["max_tap_request"] == 12544
    assert client.call(Command.ECHO, ECHO).ok() == ECHO


def test_oversized_frame_is_discarded_unparsed_with_status_4(client: TapClient) -> None:
    """REQ-TAP-006 on TCP: the frame is skipped, the connection stays usable."""
    response = client.call_raw(b"\xff" * 20000)
    assert (response.request_id, response.status) == (None, Status.TOO_LARGE)
    assert client.call(Command.ECHO, ECHO).ok() == ECHO


def test_a_new_connection_after_an_empty_frame(tcp_port: int) -> None:
    """REQ-TCP-002: a zero length ends the connection; the agent accepts the next one."""
    with connect_tcp("127.0.0.1", tcp_port, timeout=10) as tap:
        tap.channel.link.send(b"\x00\x00\x00\x00")
        deadline = time.monotonic() + 5
        with pytest.raises(Exception, match="closed"):
            while time.monotonic() < deadline:
                tap.channel.link.receive(1.0)
    with connect_tcp("127.0.0.1", tcp_port, timeout=10) as tap:
        assert tap.call(Command.ECHO, ECHO).ok() == ECHO
