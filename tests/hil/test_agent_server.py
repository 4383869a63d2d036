"""The reference agent over a real TCP socket (REQ-TCP-006) and `pqiot agent --listen`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pqiot.hil.agent_client import connect_tcp
from pqiot.hil.agent_server import AgentServer
from pqiot.reference import cbor
from pqiot.reference.tap.agent import ReferenceTestAgent
from pqiot.reference.tap.codes import Command, Status


@pytest.fixture
def server() -> Iterator[AgentServer]:
    agent = ReferenceTestAgent()
    with AgentServer(agent, "127.0.0.1", 0, max_request=agent.limits.max_tap_request) as running:
        yield running


def _raw_exchange(sock: socket.socket, frame: bytes) -> bytes:
    sock.sendall(frame)
    header = sock.recv(4, socket.MSG_WAITALL)
    return sock.recv(int.from_bytes(header, "big"), socket.MSG_WAITALL)


def test_echo_example_over_tcp_is_length_prefixed_without_kind_byte(server: AgentServer) -> None:
    """REQ-TCP-006: 4-byte big-endian length, then the TAP message itself (§13.2 example)."""
    with socket.create_connection(server.address) as sock:
        reply = _raw_exchange(sock, bytes.fromhex("0000000c830201a16464617461420102"))
    assert reply == bytes.fromhex("830100a16464617461420102")


def test_oversized_frame_is_discarded_unparsed_and_answered_with_status_4(
    server: AgentServer,
) -> None:
    """REQ-TAP-006: request_id null, and the connection stays usable."""
    big = cbor.encode([2, 5, {"data": bytes(70000)}])
    with socket.create_connection(server.address) as sock:
        reply = cbor.decode(_raw_exchange(sock, len(big).to_bytes(4, "big") + big))
        assert reply[:2] == [None, Status.TOO_LARGE]
        echo = cbor.encode([2, 6, {"data": b"ok"}])
        assert cbor.decode(_raw_exchange(sock, len(echo).to_bytes(4, "big") + echo)) == [
            6,
            0,
            {"data": b"ok"},
        ]


def test_client_runs_commands_over_the_socket(server: AgentServer) -> None:
    host, port = server.address
    with connect_tcp(host, port) as client:
        identity = client.identify()
        assert identity["product"] == "pqiot reference agent (host)"
        response = client.call(Command.HASH, {"alg": "sha256", "data": b"abc"})
        assert response.result["digest"].hex().startswith("ba7816bf")


def test_cli_agent_listens_and_answers() -> None:
    """`pqiot agent --listen tcp://127.0.0.1:0` prints its URL, serves TAP, stops on SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pqiot.cli", "agent", "--listen", "tcp://127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("pqiot agent: TAP listening on tcp://127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        with connect_tcp("127.0.0.1", port) as client:
            assert client.call(Command.ECHO, {"data": b"\x01\x02"}).result == {"data": b"\x01\x02"}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()


def test_cli_agent_rejects_a_bad_url() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pqiot.cli", "agent", "--listen", "udp://x:1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "expected tcp://HOST:PORT" in result.stderr
    assert time.monotonic() - started < 10
