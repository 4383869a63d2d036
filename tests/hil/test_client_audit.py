"""Typed client methods for AUDIT_READ (§13.9) and SESSION_START without ``suites`` (§13.5).

The client talks to the reference Test Agent through an in-memory message
channel: no process, no socket, only whole TAP messages.
"""

from __future__ import annotations

import json
from typing import cast

import pytest

from pqiot.hil.agent_client import ByteLink, TapClient
from pqiot.hil.client import STATEFUL, AgentClient, StatusError
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.identity import generate_identity
from pqiot.reference.tap.agent import AgentLimits, ReferenceTestAgent
from pqiot.reference.tap.codes import Command, Status

ALICE = generate_identity("ML-DSA-44", subject="alice", rng=ShakeRng(b"alice"))


class _NoLink:
    def send(self, data: bytes) -> None:
        raise OSError("messages only")

    def receive(self, timeout: float) -> bytes:
        raise OSError("messages only")

    def close(self) -> None:
        return None


class _Channel:
    """Whole TAP messages straight into ``answer`` (an agent, or canned results)."""

    def __init__(self, answer: ReferenceTestAgent | dict[str, CborValue]) -> None:
        self.link: ByteLink = _NoLink()
        self._answer = answer
        self._pending: list[bytes] = []

    def send_message(self, message: bytes) -> None:
        if isinstance(self._answer, ReferenceTestAgent):
            self._pending.append(self._answer.handle(message))
            return
        request = cbor.decode(message)
        assert isinstance(request, list)
        self._pending.append(cbor.encode([request[1], 0, cast(CborValue, self._answer)]))

    def receive_message(self, deadline: float) -> bytes | None:
        return self._pending.pop(0) if self._pending else None


def _client(answer: ReferenceTestAgent | dict[str, CborValue]) -> AgentClient:
    return AgentClient(lambda: TapClient(_Channel(answer), timeout=1.0))


def _failed_session(client: AgentClient, kid: bytes) -> None:
    """One responder session that fails at once: one handshake_failed event."""
    session, _ = client.session_start("responder", 0, None, cred=kid)
    with pytest.raises(StatusError) as refused:
        client.session_deliver(session, b"\xff")
    assert refused.value.status == Status.PROTOCOL_ALERT
    client.session_close(session)


def test_session_start_without_suites_omits_the_key() -> None:
    """suites=None: the device's default policy, SUITES_I = -102 alone (REQ-SUITE-003)."""
    client = _client(ReferenceTestAgent())
    kid = client.cred_load("own", ccs=ALICE.credential.cred, sk=ALICE.private_key)
    _, out = client.session_start("initiator", 0, None, cred=kid)
    assert out[0][:3] == b"\x00\x38\x65"


def test_audit_read_returns_the_events_once() -> None:
    client = _client(ReferenceTestAgent())
    kid = client.cred_load("own", ccs=ALICE.credential.cred, sk=ALICE.private_key)
    _failed_session(client, kid)
    read = client.audit_read()
    assert (read.lost, read.more) == (0, False)
    assert [json.loads(line)["event"] for line in read.events] == ["handshake_failed"]
    assert client.audit_read().events == []


def test_audit_read_all_follows_more_until_the_buffer_is_empty() -> None:
    agent = ReferenceTestAgent(limits=AgentLimits(max_tap_response=700))
    client = _client(agent)
    kid = client.cred_load("own", ccs=ALICE.credential.cred, sk=ALICE.private_key)
    for _ in range(6):
        _failed_session(client, kid)
    first = client.audit_read()
    assert first.more and 0 < len(first.events) < 6, "700 bytes cannot hold six events"
    rest = client.audit_read_all()
    assert len(first.events) + len(rest.events) == 6 and not rest.more


def test_audit_read_rejects_non_text_events() -> None:
    client = _client({"events": [b"\x00"], "lost": 0, "more": False})
    with pytest.raises(StatusError, match="non-text"):
        client.audit_read()


def test_audit_read_is_never_retried_after_a_recovery() -> None:
    """AUDIT_READ removes what it returns: a blind retry could lose events."""
    assert Command.AUDIT_READ in STATEFUL
