"""Helpers for driving the reference Test Agent in memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from pqiot.reference import cbor
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.identity import Identity, generate_identity
from pqiot.reference.tap.agent import ReferenceTestAgent
from pqiot.reference.tap.codes import Command


class AgentHarness:
    """Send one request, get (status, result); request ids increase like a real client's."""

    def __init__(self, agent: ReferenceTestAgent | None = None) -> None:
        self.agent = agent if agent is not None else ReferenceTestAgent()
        self._next = 1

    def raw(self, message: bytes) -> list[Any]:
        value = cbor.decode(self.agent.handle(message))
        assert isinstance(value, list)
        return value

    def __call__(
        self, command: int, args: Mapping[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        request_id = self._next
        self._next += 1
        reply = self.raw(cbor.encode([int(command), request_id, dict(args or {})]))
        assert reply[0] == request_id, "REQ-TAP-001: the response carries the request's id"
        return reply[1], reply[2]

    def ok(self, command: int, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        status, result = self(command, args)
        assert status == 0, result
        return result


@pytest.fixture
def tap() -> AgentHarness:
    return AgentHarness()


def identity(name: str) -> Identity:
    return generate_identity("ML-DSA-44", subject=name, rng=ShakeRng(name.encode()))


#: Two repeatable ML-DSA-44 identities, one per party.
ALICE, BOB = identity("alice"), identity("bob")


def load_pair(tap: AgentHarness, me: Identity, peer: Identity) -> bytes:
    """CRED_LOAD ``me`` as the own credential and ``peer`` as a peer; return the own kid."""
    kid = tap.ok(
        Command.CRED_LOAD, {"slot": "own", "ccs": me.credential.cred, "sk": me.private_key}
    )["kid"]
    tap.ok(Command.CRED_LOAD, {"slot": "peer", "ccs": peer.credential.cred})
    return bytes(kid)
