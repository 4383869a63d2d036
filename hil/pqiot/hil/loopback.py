"""An in-memory TAP channel to a sans-I/O agent: the typed client without a socket.

Tests and ``--target`` dry runs use it to drive
:class:`~pqiot.reference.tap.agent.ReferenceTestAgent` through exactly the
client code a device sees, minus the byte transport.
"""

from __future__ import annotations

from collections import deque

from pqiot.hil.agent_client import AgentError, ByteLink, TapClient
from pqiot.hil.agent_server import MessageHandler

__all__ = ["LoopbackChannel", "loopback_client"]


class _NullLink:
    closed = False

    def send(self, data: bytes) -> None:
        raise AgentError("a loopback channel carries whole messages only")

    def receive(self, timeout: float) -> bytes:
        return b""

    def close(self) -> None:
        self.closed = True


class LoopbackChannel:
    """``send_message`` runs the agent; ``receive_message`` returns its answer."""

    def __init__(self, agent: MessageHandler) -> None:
        self.agent = agent
        self._null = _NullLink()
        self.link: ByteLink = self._null
        self._pending: deque[bytes] = deque()

    def send_message(self, message: bytes) -> None:
        if self._null.closed:
            raise AgentError("loopback channel is closed")
        self._pending.append(self.agent.handle(message))

    def receive_message(self, deadline: float) -> bytes | None:
        return self._pending.popleft() if self._pending else None


def loopback_client(agent: MessageHandler, timeout: float = 10.0) -> TapClient:
    return TapClient(LoopbackChannel(agent), timeout)
