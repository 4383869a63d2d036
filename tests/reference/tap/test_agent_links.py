"""SESSION_START ``transport: "link"`` over real TCP sockets (§13.5 as proposed, §12.2).

Two reference agents reach each other over loopback: the Responder listens and
returns its URL, the Initiator dials it, and the handshake completes between
commands with no ``out`` to shuttle.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from pqiot.reference.tap.codes import Command, Status

from .conftest import ALICE, BOB, AgentHarness
from .conftest import load_pair as _load

SUITE = -102


def _start(tap: AgentHarness, role: str, kid: bytes, **options: Any) -> dict[str, Any]:
    args = {"role": role, "method": 0, "suites": [SUITE], "cred": kid, "transport": "link"}
    return tap.ok(Command.SESSION_START, {**args, **options})


def _wait_state(tap: AgentHarness, session: int, states: tuple[str, ...]) -> str:
    deadline = time.monotonic() + 5
    while True:
        state = str(tap.ok(Command.SESSION_INFO, {"session": session})["state"])
        if state in states or time.monotonic() > deadline:
            return state
        time.sleep(0.01)


def _poll(tap: AgentHarness, session: int) -> list[bytes]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = tap.ok(Command.APP_POLL, {"session": session})["data"]
        if data:
            return [bytes(d) for d in data]
        time.sleep(0.01)
    return []


@pytest.fixture
def pair() -> tuple[AgentHarness, int, AgentHarness, int]:
    """An Initiator agent linked to a Responder agent over TCP, handshake done."""
    initiator, responder = AgentHarness(), AgentHarness()
    kid_i, kid_r = _load(initiator, ALICE, BOB), _load(responder, BOB, ALICE)
    listening = _start(responder, "responder", kid_r)
    assert listening["out"] == [] and listening["link"].startswith("tcp://127.0.0.1:")
    dialling = _start(initiator, "initiator", kid_i, link=listening["link"])
    assert dialling["out"] == [] and dialling["link"] == listening["link"]
    session_i, session_r = dialling["session"], listening["session"]
    assert _wait_state(initiator, session_i, ("DONE", "FAILED")) == "DONE"
    assert _wait_state(responder, session_r, ("DONE", "FAILED")) == "DONE"
    return initiator, session_i, responder, session_r


def test_two_agents_complete_a_handshake_and_exchange_records_over_tcp(
    pair: tuple[AgentHarness, int, AgentHarness, int],
) -> None:
    initiator, session_i, responder, session_r = pair
    assert initiator.ok(Command.APP_SEND, {"session": session_i, "data": b"ping"})["out"] == []
    assert _poll(responder, session_r) == [b"ping"]
    responder.ok(Command.APP_SEND, {"session": session_r, "data": b"pong"})
    assert _poll(initiator, session_i) == [b"pong"]
    # Both ends export the same key: one handshake, not two.
    export = {"label": 0, "context": b"", "len": 16}
    assert (
        initiator.ok(Command.EXPORT, {"session": session_i, **export})["okm"]
        == responder.ok(Command.EXPORT, {"session": session_r, **export})["okm"]
    )


def test_session_close_ends_the_peer_session_through_the_close_record(
    pair: tuple[AgentHarness, int, AgentHarness, int],
) -> None:
    """REQ-TCP-003: the close record and then the connection's end close the peer too."""
    initiator, session_i, responder, session_r = pair
    assert initiator.ok(Command.SESSION_CLOSE, {"session": session_i})["out"] == []
    assert _wait_state(responder, session_r, ("CLOSED", "FAILED")) == "CLOSED"
    status, _ = responder(Command.APP_SEND, {"session": session_r, "data": b"late"})
    assert status == Status.INVALID_STATE


def test_reset_closes_the_connection(
    pair: tuple[AgentHarness, int, AgentHarness, int],
) -> None:
    initiator, _, responder, session_r = pair
    initiator.ok(Command.RESET, {"scope": "sessions"})
    assert _wait_state(responder, session_r, ("CLOSED", "FAILED")) in ("CLOSED", "FAILED")


def test_an_unreachable_responder_is_reported_after_the_retries(tap: AgentHarness) -> None:
    """REQ-TCP-007: three retries (§12.5: 1.75..3.5 s), then FAILED and status 7."""
    kid = _load(tap, ALICE, BOB)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: every attempt is refused
        port = sock.getsockname()[1]
        started = time.monotonic()
        session = _start(tap, "initiator", kid, link=f"tcp://127.0.0.1:{port}")["session"]
        deadline = started + 6
        while time.monotonic() < deadline:
            if tap.ok(Command.SESSION_INFO, {"session": session})["state"] == "FAILED":
                break
            time.sleep(0.05)
        took = time.monotonic() - started
    assert 1.7 <= took <= 4.5
    status, result = tap(Command.APP_SEND, {"session": session, "data": b"x"})
    assert status == Status.PROTOCOL_ALERT and result["alert"] == "unspecified_error"
    assert "gave up after 4 attempts" in result["detail"]


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({}, Status.MALFORMED),  # an Initiator must be told where to connect
        ({"link": "http://127.0.0.1:1"}, Status.INVALID_INPUT),
        ({"link": "tcp://127.0.0.1:0"}, Status.INVALID_INPUT),
        ({"link": "tcp://127.0.0.1:1", "state_timer": 0}, Status.INVALID_INPUT),
        ({"link": "tcp://127.0.0.1:1", "state_timer": 301}, Status.INVALID_INPUT),
    ],
)
def test_bad_link_options_are_refused(
    tap: AgentHarness, options: dict[str, Any], status: int
) -> None:
    kid = _load(tap, ALICE, BOB)
    args = {"role": "initiator", "method": 0, "cred": kid, "transport": "link", **options}
    assert tap(Command.SESSION_START, args)[0] == status
    # Nothing was left behind: the table is empty.
    assert tap(Command.SESSION_INFO, {"session": 1})[0] == Status.INVALID_STATE


def test_state_timer_shortens_the_handshake_state_timer_of_a_tap_session() -> None:
    """REQ-HS-037 configurable 1..300 s: a WAIT_M2 session with state_timer 1 fails after 1 s."""
    now = [1000.0]
    from pqiot.reference.tap.agent import ReferenceTestAgent

    tap = AgentHarness(ReferenceTestAgent(clock=lambda: now[0]))
    kid = _load(tap, ALICE, BOB)
    args = {"role": "initiator", "method": 0, "cred": kid, "state_timer": 1}
    session = tap.ok(Command.SESSION_START, args)["session"]
    now[0] += 0.9
    assert tap.ok(Command.SESSION_INFO, {"session": session})["state"] == "WAIT_M2"
    now[0] += 0.2
    assert tap.ok(Command.SESSION_INFO, {"session": session})["state"] == "FAILED"
