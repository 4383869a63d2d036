"""TcpSessionLink: one reference Session on one real TCP connection (spec §12.2).

The peer is a plain socket in the test, so the wire rules are seen as bytes:
frames out, a bad length or kind or a stale partial frame closes the connection,
a second connection is not served, a failed connect is retried and given up.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import pytest

from pqiot.reference.audit import AuditLog, MemorySink
from pqiot.reference.errors import Alert
from pqiot.reference.session import Session, SessionEvent, SessionState
from pqiot.transports.recovery import RecoveryPolicy
from pqiot.transports.tcp import TcpAddress
from pqiot.transports.tcp_link import LinkConfig, LinkEnd, LinkLoop, TcpSessionLink

from .conftest import Parties

WAIT = 5.0


@dataclass
class Observed:
    """What the link told its owner."""

    events: list[SessionEvent] = field(default_factory=list)
    ends: list[LinkEnd] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)

    def end(self, end: LinkEnd) -> None:
        self.ends.append(end)
        self.ended.set()


def _link(
    session: Session, config: LinkConfig | None = None, audit: AuditLog | None = None
) -> tuple[TcpSessionLink, Observed, threading.RLock]:
    observed, lock = Observed(), threading.RLock()
    link = TcpSessionLink(
        session,
        lock,
        LinkLoop(),
        on_events=observed.events.extend,
        on_end=observed.end,
        config=config,
        audit=audit,
    )
    return link, observed, lock


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("tcp://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=WAIT)


def _read_to_eof(sock: socket.socket) -> bytes:
    sock.settimeout(WAIT)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> bytes:
    sock.settimeout(WAIT)
    header = sock.recv(4, socket.MSG_WAITALL)
    length = int.from_bytes(header, "big")
    return sock.recv(length, socket.MSG_WAITALL)


def _listening_responder(
    parties: Parties, config: LinkConfig | None = None
) -> tuple[TcpSessionLink, Observed, threading.RLock]:
    session = parties.responder()
    session.start(time.time())
    link, observed, lock = _link(session, config)
    with lock:
        link.listen("127.0.0.1")
    return link, observed, lock


def test_the_handshake_runs_as_length_prefixed_frames(default_parties: Parties) -> None:
    """REQ-TCP-001: message_1 in, message_2 out as ``len(4, BE) || 00 || body``."""
    link, observed, _ = _listening_responder(default_parties)
    initiator = default_parties.initiator()
    initiator.start(time.time())
    with _connect(link.url) as sock:
        (message_1,) = initiator.data_to_send()
        sock.sendall(len(message_1).to_bytes(4, "big") + message_1)
        message_2 = _read_frame(sock)
        assert message_2[0] == 0x00
        initiator.receive(message_2, time.time())
        (message_3,) = initiator.data_to_send()
        sock.sendall(len(message_3).to_bytes(4, "big") + message_3)
        deadline = time.monotonic() + WAIT
        while link.session.state is not SessionState.ESTABLISHED:
            assert time.monotonic() < deadline, "the linked session did not reach DONE"
            time.sleep(0.01)
    assert observed.ended.wait(WAIT), "closing the connection ends the session (REQ-TCP-003)"
    assert observed.ends[0].alert is None
    assert link.session.state.name == "CLOSED"


@pytest.mark.parametrize(
    ("header", "alert"),
    [(0, Alert.DECODE_ERROR), (17409, Alert.MESSAGE_TOO_LARGE)],
)
def test_a_bad_length_closes_the_connection(
    default_parties: Parties, header: int, alert: Alert
) -> None:
    """REQ-TCP-002: the header alone ends the session and the connection."""
    link, observed, _ = _listening_responder(default_parties)
    with _connect(link.url) as sock:
        sock.sendall(header.to_bytes(4, "big"))
        assert _read_to_eof(sock) == b""
    assert observed.ended.wait(WAIT)
    assert observed.ends[0].alert is alert
    assert link.session.state is SessionState.FAILED


def test_a_reserved_kind_closes_the_connection(default_parties: Parties) -> None:
    """REQ-TCP-005."""
    link, observed, _ = _listening_responder(default_parties)
    with _connect(link.url) as sock:
        sock.sendall(b"\x00\x00\x00\x02\x02\x00")
        assert _read_to_eof(sock) == b""
    assert observed.ended.wait(WAIT)
    assert "reserved kind 0x02" in observed.ends[0].detail


def test_a_stale_partial_frame_closes_the_connection(default_parties: Parties) -> None:
    """REQ-TCP-005: a frame not completed within the (here shortened) timer."""
    config = LinkConfig(partial_timeout=0.3)
    link, observed, _ = _listening_responder(default_parties, config)
    with _connect(link.url) as sock:
        started = time.monotonic()
        sock.sendall(b"\x00\x00\x00\x10\x01")
        assert _read_to_eof(sock) == b""
        assert 0.25 <= time.monotonic() - started < WAIT
    assert "partial frame" in observed.ends[0].detail


def test_a_second_connection_is_not_served(default_parties: Parties) -> None:
    """REQ-TCP-003: one connection, one session; the port stops listening at the first."""
    link, _, _ = _listening_responder(default_parties)
    with _connect(link.url):
        time.sleep(0.1)  # the first connection is accepted and the server closed
        with pytest.raises(OSError), _connect(link.url) as second:
            _read_to_eof(second)


def test_connect_is_retried_then_given_up_and_audited(default_parties: Parties) -> None:
    """REQ-TCP-007 and §12.5: three retries audited as ``retry``, then ``give_up``."""
    sink = MemorySink()
    session = default_parties.initiator()
    session.start(time.time())
    policy = RecoveryPolicy(base_delay=0.01, max_delay=0.05)
    link, observed, lock = _link(session, LinkConfig(policy=policy), AuditLog(sink))
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))
        with lock:
            link.dial(TcpAddress("127.0.0.1", refusing.getsockname()[1]))
        assert observed.ended.wait(WAIT)
    assert observed.ends[0].alert is Alert.UNSPECIFIED_ERROR
    assert session.state is SessionState.FAILED
    events = [record["event"] for record in sink.records]
    assert events.count("retry") == 3 and events.count("give_up") == 1
