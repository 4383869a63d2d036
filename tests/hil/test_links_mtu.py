"""The harness's serial MTU comes from the transport URL (REQ-SER-002: same at both ends)."""

from __future__ import annotations

import socket

import pytest

from pqiot.hil.agent_client import AgentError, SerialChannel
from pqiot.hil.links import connect_url, serial_mtu
from pqiot.reference.framing import cobs


@pytest.mark.parametrize(
    ("url", "mtu"),
    [
        ("serial+tcp://127.0.0.1:5000", 256),
        ("serial+tcp://127.0.0.1:5000?mtu=128", 128),
        ("serial:///dev/ttyUSB0?baud=115200&mtu=1024", 1024),
    ],
)
def test_the_mtu_query_selects_the_line_mtu(url: str, mtu: int) -> None:
    assert serial_mtu(url) == mtu


@pytest.mark.parametrize("value", ["127", "1025", "big"])
def test_an_mtu_outside_128_to_1024_is_refused(value: str) -> None:
    with pytest.raises(AgentError, match=r"128\.\.1024"):
        serial_mtu(f"serial+tcp://127.0.0.1:5000?mtu={value}")


def test_serial_tcp_frames_requests_with_the_url_mtu() -> None:
    """A 300-byte TAP message at MTU 128 leaves as fragments of 128, 128 and 44 bytes."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        client = connect_url(
            f"serial+tcp://127.0.0.1:{port}?mtu=128", timeout=1.0, connect_timeout=1.0
        )
        peer, _ = server.accept()
        with client, peer:
            assert isinstance(client.channel, SerialChannel) and client.channel.mtu == 128
            client.channel.send_message(bytes(range(1, 251)) + bytes(range(1, 51)))
            wire = b""
            while wire.count(b"\x00") < 3:
                wire += peer.recv(4096)
    frames = [cobs.decode(f) for f in wire.split(b"\x00")[:3]]
    assert [len(f) - 8 for f in frames] == [128, 128, 44]
    assert [f[3] for f in frames] == [3, 3, 3]
