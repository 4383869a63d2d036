"""Sockets to an agent turn Nagle off: a TAP request is one write and must leave at once."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from pqiot.hil.agent_client import SocketLink, TapClient, connect_serial_tcp, connect_tcp
from pqiot.hil.links import connect_url


def _nodelay(client: TapClient) -> int:
    link = client.channel.link
    assert isinstance(link, SocketLink)
    return link._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.mark.parametrize(
    "connect",
    [
        pytest.param(lambda port: connect_tcp("127.0.0.1", port, timeout=2), id="tcp"),
        pytest.param(lambda port: connect_serial_tcp("127.0.0.1", port, timeout=2), id="serial"),
        pytest.param(
            lambda port: connect_url(
                f"serial+tcp://127.0.0.1:{port}", timeout=2, connect_timeout=2
            ),
            id="url",
        ),
    ],
)
def test_agent_connections_set_tcp_nodelay(connect: Callable[[int], TapClient]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = connect(server.getsockname()[1])
        try:
            assert _nodelay(client) != 0
        finally:
            client.close()
