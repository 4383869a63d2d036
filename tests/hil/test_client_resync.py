"""A late response is matched by request_id and dropped; the harness resyncs without a restart."""

from __future__ import annotations

import time

from pqiot.hil.agent_client import connect_tcp
from pqiot.hil.agent_server import AgentServer
from pqiot.hil.client import AgentClient
from pqiot.reference import cbor
from pqiot.reference.tap.agent import ReferenceTestAgent


class SlowOnce:
    """The reference agent, except that the first HASH takes 1 s (a DUT busy for a while)."""

    def __init__(self) -> None:
        self.agent = ReferenceTestAgent()
        self.slowed = False
        self.commands: list[int] = []

    def handle(self, message: bytes) -> bytes:
        decoded = cbor.decode(message)
        if isinstance(decoded, list) and decoded and isinstance(decoded[0], int):
            self.commands.append(decoded[0])
        if isinstance(decoded, list) and decoded[:1] == [58] and not self.slowed:
            self.slowed = True
            time.sleep(1.0)
        return self.agent.handle(message)


def test_late_response_is_dropped_and_the_command_is_retried_without_recovery() -> None:
    def no_recovery() -> None:
        raise AssertionError("a slow but alive DUT must not be restarted")

    agent = SlowOnce()
    with AgentServer(agent) as server:
        host, port = server.address
        client = AgentClient(
            lambda: connect_tcp(host, port), recover=no_recovery, timeout=0.3, resync_timeout=2.0
        )
        digest = client.hash("sha256", b"abc")
        assert digest.hex().startswith("ba7816bf")
        assert client.recoveries == 0
        assert agent.commands == [58, 2, 58], "HASH timed out, resync ECHO, HASH retried"
        assert client.echo(b"in step") == b"in step", "no stale response is left in the pipe"
        client.close()


def test_per_command_timeouts_override_the_default() -> None:
    """A command with its own timeout may take longer than the default without a resync."""
    agent = SlowOnce()
    with AgentServer(agent) as server:
        host, port = server.address
        client = AgentClient(
            lambda: connect_tcp(host, port),
            recover=None,
            timeout=0.3,
            command_timeouts={58: 5.0},
        )
        assert client.hash("sha256", b"").hex().startswith("e3b0c442")
        assert agent.commands == [58], "one HASH, no resync ECHO, no retry"
        client.close()
