"""The TCP binding (spec chapter 12 §12.2) observed from the tester's end of a real socket.

Sessions run with SESSION_START ``transport: "link"`` (§13.5): a device Initiator
connects to a socket the tester listens on (``link``: its ``tcp://HOST:PORT``), a
device Responder listens and says where in the result's ``link``. The tester is the
reference, and it reads and writes the raw stream itself, so framing, limits, the
one-session-per-connection rule, closing, connect retries and the absence of
EDHOC retransmission (REQ-HS-039) are checked on the wire, not through TAP results.

What the device receives on the link is observed through APP_POLL (application
data) and SESSION_INFO (state); "the device closed the connection" is an end of
stream on the tester's socket, within a bound.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import pytest

from pqiot.conformance.conversation import HandshakeRun, other_role, provision, start_session
from pqiot.conformance.device import Device, InMemoryChannel
from pqiot.conformance.peer import ReferencePeer, suite_parties
from pqiot.conformance.record_probes import record_aad, session_keys
from pqiot.hil.client import StatusError
from pqiot.hil.verdict import Blocked
from pqiot.reference.session import ApplicationData
from pqiot.reference.tap.codes import Command, Status

SUITE = -102
KIND_HANDSHAKE = 0x00
KIND_RECORD = 0x01
#: REQ-TCP-002: the default maximum frame length, and the largest configurable one.
DEFAULT_MAX_FRAME = 17408
MAX_CONFIGURABLE_FRAME = 65536
#: REQ-SER-007: the serial retransmission timeout a reliable binding must not imitate.
SERIAL_RTO = 2.0
#: §12.5 defaults: connect retries, base delay, multiplier, jitter.
CONNECT_RETRIES = 3
BASE_DELAY = 0.5
MULTIPLIER = 2.0
JITTER = 0.5
#: The state timer asked for where a test waits for it (SESSION_START ``state_timer``).
SHORT_STATE_TIMER = 3
DEFAULT_STATE_TIMER = 30
#: Where the tester listens for a device Initiator (a host build reaches it on loopback).
TESTER_HOST = os.environ.get("PQIOT_TCP_TESTER_HOST", "127.0.0.1")
#: How long the device may take to react on the wire (a handshake step, a close).
REACTION = 5.0


class PeerClosed(AssertionError):
    """The device closed the connection where the test expected bytes."""


class Wire:
    """The tester's end of one TCP connection to the device, read as §12.2 frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, kind: int, body: bytes) -> None:
        """REQ-TCP-001: ``length(4, big-endian) || kind || body``."""
        message = bytes([kind]) + body
        self.send(len(message).to_bytes(4, "big") + message)

    def _fill(self, deadline: float) -> bool:
        """Read more bytes; False once ``deadline`` passed or the device closed."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self._buffer += data
        return True

    def frame(self, timeout: float = REACTION) -> bytes:
        """The next complete frame's message (kind || body); fails on timeout or close."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self._buffer) >= 4:
                length = int.from_bytes(self._buffer[:4], "big")
                assert 0 < length <= MAX_CONFIGURABLE_FRAME, (
                    f"the device sent a frame length of {length} (REQ-TCP-001/002: 1..65536)"
                )
                if len(self._buffer) >= 4 + length:
                    message = bytes(self._buffer[4 : 4 + length])
                    del self._buffer[: 4 + length]
                    return message
            if not self._fill(deadline):
                if self.eof:
                    raise PeerClosed(
                        f"the device closed the connection ({len(self._buffer)} bytes of an "
                        "incomplete frame pending)"
                    )
                raise AssertionError(
                    f"no complete frame from the device within {timeout:g} s "
                    f"({len(self._buffer)} bytes pending)"
                )

    def exactly(self, n: int, timeout: float = REACTION) -> bytes:
        """The next ``n`` raw bytes, whatever they are."""
        deadline = time.monotonic() + timeout
        while len(self._buffer) < n:
            assert self._fill(deadline), f"the device sent fewer than {n} bytes"
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def handshake(self, timeout: float = REACTION) -> bytes:
        message = self.frame(timeout)
        assert message[0] == KIND_HANDSHAKE, (
            f"expected a handshake message (kind 00), got kind {message[0]:02x}"
        )
        return message[1:]

    def record(self, timeout: float = REACTION) -> bytes:
        message = self.frame(timeout)
        assert message[0] == KIND_RECORD, f"expected a record (kind 01), got {message[0]:02x}"
        return message[1:]

    def silent(self, seconds: float, *, allow_close: bool = False) -> None:
        """Nothing at all arrives for ``seconds``; the device keeps the connection open
        unless ``allow_close``."""
        deadline = time.monotonic() + seconds
        while self._fill(deadline):
            pass
        assert not self._buffer, (
            f"the device sent {len(self._buffer)} bytes "
            f"({bytes(self._buffer[:16]).hex()}...) where it should have stayed silent"
        )
        assert allow_close or not self.eof, (
            "the device closed the connection where it should have kept it"
        )

    def closed_within(self, seconds: float) -> list[bytes]:
        """The device closes the connection within ``seconds``; returns the frames before."""
        deadline = time.monotonic() + seconds
        while self._fill(deadline):
            pass
        assert self.eof, f"the device kept the connection open for {seconds:g} s"
        frames: list[bytes] = []
        while len(self._buffer) >= 4:
            length = int.from_bytes(self._buffer[:4], "big")
            if len(self._buffer) < 4 + length:
                break
            frames.append(bytes(self._buffer[4 : 4 + length]))
            del self._buffer[: 4 + length]
        assert not self._buffer, "the device's last frame before closing was incomplete"
        return frames

    def close(self) -> None:
        self.sock.close()


# --- sessions on a TCP link ----------------------------------------------------------------


@dataclass
class Link:
    """One device session on its own TCP connection, and the tester's reference peer."""

    device: Device
    session: int
    peer: ReferencePeer
    device_role: str
    kid: bytes
    wire: Wire | None = None
    url: str = ""

    def run(self) -> HandshakeRun:
        return HandshakeRun(self.device, self.session, self.peer, SUITE, self.device_role)

    def poll(self, count: int, timeout: float = REACTION) -> list[bytes]:
        """Wait until the device has received ``count`` application messages; APP_POLL."""
        deadline = time.monotonic() + timeout
        received: list[bytes] = []
        while len(received) < count and time.monotonic() < deadline:
            result = self.device.client.call(Command.APP_POLL, {"session": self.session})
            data = result.get("data")
            assert isinstance(data, list), f"APP_POLL returned data {data!r}, not a list"
            received += [bytes(d) for d in data if isinstance(d, bytes)]
            if len(received) < count:
                time.sleep(0.02)
        return received

    def state(self) -> str:
        return str(self.device.client.session_info(self.session).get("state"))

    def wait_state(self, states: tuple[str, ...], timeout: float = REACTION) -> str:
        deadline = time.monotonic() + timeout
        state = self.state()
        while state not in states and time.monotonic() < deadline:
            time.sleep(0.02)
            state = self.state()
        return state


def _refused_link(device: Device, exc: StatusError) -> Blocked:
    return Blocked(
        "tcp binding",
        f'the device declares binding tcp but answers SESSION_START transport "link" with '
        f"status {exc.status} ({exc}); without a link session the TCP wire cannot be observed "
        '(§13.5: a Responder listens and returns its tcp:// URL as "link")',
    )


@pytest.fixture
def tcp(device: Device) -> Device:
    """The device, when it declares the TCP binding (spec §14.3)."""
    if not device.declares("bindings", "tcp"):
        pytest.skip("not applicable: binding tcp not declared (spec §14.3)")
    return device


def start_link(
    device: Device, device_role: str, *, listener: socket.socket | None = None, **options: Any
) -> Link:
    """Provision and SESSION_START with transport link; nothing exchanged yet.

    A device Initiator is given ``listener``'s address to connect to; a device
    Responder's listening URL comes back in the result.
    """
    kid, tester = provision(device, SUITE, device_role)
    own = suite_parties(SUITE)[device_role]
    peer = ReferencePeer(other_role(device_role), [SUITE], tester, [own.credential])
    args: dict[str, Any] = {"cred": kid, "transport": "link", **options}
    if device_role == "initiator":
        assert listener is not None, "a device Initiator needs a socket to connect to"
        host, port = listener.getsockname()[:2]
        args["link"] = f"tcp://{host}:{port}"
        args.setdefault("kem_seed", os.urandom(64))
    else:
        args.setdefault("kem_m", os.urandom(32))
    try:
        result = device.client.call(
            Command.SESSION_START,
            {"role": device_role, "method": 0, "suites": [SUITE], **args},
        )
    except StatusError as exc:
        if exc.status in (Status.UNSUPPORTED, Status.MALFORMED):
            raise _refused_link(device, exc) from exc
        raise
    assert result.get("out") == [], "with transport link the handshake goes on the link (§13.3)"
    number = result.get("session")
    assert isinstance(number, int), f"SESSION_START returned session {number!r}"
    link = Link(device, number, peer, device_role, kid)
    if device_role == "responder":
        url = result.get("link")
        if not isinstance(url, str) or not url.startswith("tcp://"):
            raise Blocked(
                "tcp binding",
                f"a Responder link session returned link {url!r}, not the tcp://HOST:PORT "
                "it listens on (§13.5); the tester cannot reach it",
            )
        link.url = url
    return link


def connect(url: str) -> Wire:
    host, port = url.removeprefix("tcp://").rsplit(":", 1)
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=REACTION)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Wire(sock)


@contextmanager
def listening() -> Iterator[socket.socket]:
    """A socket the tester listens on for a device Initiator."""
    with closing(socket.create_server((TESTER_HOST, 0))) as sock:
        yield sock


def accept(listener: socket.socket, timeout: float = REACTION) -> Wire:
    listener.settimeout(timeout)
    try:
        sock, _ = listener.accept()
    except TimeoutError:
        raise AssertionError(f"the device Initiator did not connect within {timeout:g} s") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Wire(sock)


def open_responder(device: Device, **options: Any) -> Link:
    link = start_link(device, "responder", **options)
    link.wire = connect(link.url)
    return link


def complete_handshake(link: Link) -> None:
    """Run the handshake on the link to DONE on both sides."""
    wire = link.wire
    assert wire is not None
    if link.device_role == "responder":
        wire.send_frame(KIND_HANDSHAKE, link.peer.handshake_out()[0])
    while not link.peer.established:
        for reply in link.peer.deliver(wire.handshake()):
            wire.send_frame(KIND_HANDSHAKE, reply)
    state = link.wait_state(("DONE", "FAILED", "CLOSED"))
    assert state == "DONE", f"the device session is {state} after the handshake on TCP"


def established(device: Device, device_role: str = "responder", **options: Any) -> Link:
    if device_role == "responder":
        link = open_responder(device, **options)
    else:
        with listening() as listener:
            link = start_link(device, "initiator", listener=listener, **options)
            link.wire = accept(listener)
    complete_handshake(link)
    return link


def delivered(link: Link, data: bytes) -> None:
    """The tester's record with ``data`` reaches the device's application."""
    assert link.wire is not None
    link.wire.send_frame(KIND_RECORD, link.peer.protect(data))
    assert link.poll(1) == [data], "the device did not deliver the tester's record"


def from_device(link: Link, data: bytes) -> bytes:
    """APP_SEND puts exactly one record frame on the link; returns the record."""
    assert link.wire is not None
    out = link.device.client.app_send(link.session, data)
    assert out == [], "a link session's records go on the link, not in out (§13.3)"
    record = link.wire.record()
    received = [e.data for e in link.peer.unprotect(record) if isinstance(e, ApplicationData)]
    assert received == [data], "the tester could not open the device's record"
    return record


# --- REQ-TCP-001 ---------------------------------------------------------------------------


@pytest.mark.requirement("REQ-TCP-001")
def test_every_message_is_one_length_prefixed_frame(tcp: Device) -> None:
    """message_1, message_3 and a record each arrive as ``length(4, BE) || kind || body``
    and are accepted by the reference; frames the tester cuts into pieces, or sends
    back to back in one segment, are read as the same messages."""
    with listening() as listener:
        link = start_link(tcp, "initiator", listener=listener)
        wire = accept(listener)
    link.wire = wire
    length = int.from_bytes(wire.exactly(4), "big")
    message_1 = wire.exactly(length)
    assert message_1[0] == KIND_HANDSHAKE, f"message_1 has kind {message_1[0]:02x}, not 00"
    message_2 = link.peer.deliver(message_1[1:])
    assert len(message_2) == 1, "the reference did not accept message_1 from the frame"
    # The tester's frame arrives in pieces: the header split, the body in three parts.
    framed = (len(message_2[0]) + 1).to_bytes(4, "big") + bytes([KIND_HANDSHAKE]) + message_2[0]
    third = len(framed) // 3
    for piece in (framed[:2], framed[2:third], framed[third : 2 * third], framed[2 * third :]):
        wire.send(piece)
        time.sleep(0.02)
    for reply in link.peer.deliver(wire.handshake()):  # message_3 (and message_4 if any)
        wire.send_frame(KIND_HANDSHAKE, reply)
    assert link.peer.established, "the reference did not accept message_3 from its frame"
    assert link.wait_state(("DONE", "FAILED")) == "DONE"
    from_device(link, b"one frame per record")
    # Two record frames in one write: both delivered, in order.
    first, second = link.peer.protect(b"first"), link.peer.protect(b"second")
    wire.send(b"".join(len(r).to_bytes(4, "big") + r for r in (b"\x01" + first, b"\x01" + second)))
    assert link.poll(2) == [b"first", b"second"]
    wire.close()


# --- REQ-TCP-002 ---------------------------------------------------------------------------


@pytest.mark.conversation
@pytest.mark.requirement("REQ-TCP-002")
@pytest.mark.parametrize(
    "length",
    [0, DEFAULT_MAX_FRAME + 1, MAX_CONFIGURABLE_FRAME + 1],
    ids=["zero", "default-max-plus-1", "configurable-max-plus-1"],
)
def test_a_length_of_zero_or_above_the_maximum_closes_the_connection(
    tcp: Device, length: int
) -> None:
    """The header alone is enough: the device stops reading and closes; what it sends
    before closing can only be an EDHOC error (the SHOULD of REQ-TCP-002)."""
    link = open_responder(tcp)
    assert link.wire is not None
    link.wire.send(length.to_bytes(4, "big") + b"\x00" * min(length, 16))
    frames = link.wire.closed_within(REACTION)
    assert all(f[:1] == bytes([KIND_HANDSHAKE]) for f in frames), (
        "before closing the device may only send an EDHOC error message (kind 00)"
    )
    assert link.wait_state(("FAILED", "CLOSED")) in ("FAILED", "CLOSED"), (
        "the session outlived its connection (REQ-TCP-003)"
    )


@pytest.mark.conversation
@pytest.mark.requirement("REQ-TCP-002")
def test_a_frame_of_exactly_the_default_maximum_is_read(tcp: Device) -> None:
    """A 17408-byte frame (a record nobody can open) is read and dropped, not refused:
    the connection stays open and the next record is delivered."""
    link = established(tcp)
    assert link.wire is not None
    junk = (
        bytes([KIND_RECORD]) + bytes([0x03, 0x09, 0x05, 0x01]) + b"\xa5" * (DEFAULT_MAX_FRAME - 5)
    )
    assert len(junk) == DEFAULT_MAX_FRAME
    link.wire.send(len(junk).to_bytes(4, "big") + junk)
    delivered(link, b"after the largest frame")
    assert link.state() == "DONE"
    link.wire.close()


# --- REQ-TCP-003 ---------------------------------------------------------------------------


@pytest.mark.requirement("REQ-TCP-003")
def test_closing_the_connection_ends_the_session(tcp: Device) -> None:
    """After the tester closes the connection the established session is over: it leaves
    DONE and APP_SEND is refused, so nothing can be sent for it any more."""
    link = established(tcp, "initiator")
    assert link.wire is not None
    link.wire.close()
    state = link.wait_state(("CLOSED", "FAILED"))
    assert state in ("CLOSED", "FAILED"), f"the session is {state} after its connection closed"
    with pytest.raises(StatusError) as refused:
        tcp.client.app_send(link.session, b"too late")
    assert refused.value.status in (Status.INVALID_STATE, Status.PROTOCOL_ALERT), (
        f"APP_SEND on a session without a connection: {refused.value}"
    )


@pytest.mark.requirement("REQ-TCP-003")
def test_a_connection_carries_exactly_one_session(tcp: Device) -> None:
    """A second message_1 on an established connection starts no second session (no
    message_2), a second connection to the Responder's port is not served, and the
    first session keeps working."""
    link = established(tcp)
    assert link.wire is not None
    parties = suite_parties(SUITE)
    intruder = ReferencePeer(
        "initiator", [SUITE], parties["initiator"], [parties["responder"].credential]
    )
    message_1 = intruder.handshake_out()[0]
    link.wire.send_frame(KIND_HANDSHAKE, message_1)
    try:
        second: Wire | None = connect(link.url)
    except OSError:
        second = None  # refused outright: not served
    if second is not None:
        with suppress(OSError):
            second.send_frame(KIND_HANDSHAKE, message_1)
        second.silent(1.0, allow_close=True)
        second.close()
    link.wire.silent(1.0)  # no message_2 for the second message_1
    assert link.state() == "DONE"
    delivered(link, b"still the one session")
    from_device(link, b"and back")
    link.wire.close()


# --- REQ-TCP-004 ---------------------------------------------------------------------------


@pytest.mark.requirement("REQ-TCP-004")
def test_records_bind_the_empty_binding_context(tcp: Device) -> None:
    """The device's record opens with binding_context h'' and not with the serial h'00';
    the device delivers a record sealed with h'' and drops one sealed with h'00'."""
    link = established(tcp)
    assert link.wire is not None
    keys = session_keys(link.run())
    record = from_device(link, b"context check")
    parsed, plaintext = keys.device.open(record)
    assert plaintext is not None, "the device's record does not open with binding_context h''"
    serial_aad = record_aad(keys.device.aead.alg, parsed.kid, parsed.piv, b"\x00")
    nonce = keys.device.nonce(parsed.piv)
    assert keys.device.aead.open(keys.device.key, nonce, parsed.ciphertext, serial_aad) is None
    # The tester's reference peer has sent no record yet: ssn 0 and 1 are fresh.
    wrong = keys.tester.seal(0, b"\x01wrong context", binding_context=b"\x00")
    right = keys.tester.seal(1, b"\x01right context", binding_context=b"")
    link.wire.send_frame(KIND_RECORD, wrong)
    link.wire.send_frame(KIND_RECORD, right)
    assert link.poll(1) == [b"right context"], (
        "the device must drop the h'00' record and deliver the h'' one (in that order)"
    )
    assert link.poll(1, timeout=0.2) == [], "the h'00' record was delivered late"
    link.wire.close()


# --- REQ-TCP-005 ---------------------------------------------------------------------------


@pytest.mark.conversation
@pytest.mark.requirement("REQ-TCP-005")
def test_a_reserved_kind_closes_the_connection(tcp: Device) -> None:
    """A frame of kind 02 on an established connection: the device closes it."""
    link = established(tcp)
    assert link.wire is not None
    link.wire.send_frame(0x02, b"reserved")
    frames = link.wire.closed_within(REACTION)
    assert all(f[:1] == bytes([KIND_RECORD]) for f in frames), (
        "before closing an established session the device may only send its close record"
    )
    assert link.wait_state(("FAILED", "CLOSED")) in ("FAILED", "CLOSED")


@pytest.mark.conversation
@pytest.mark.requirement("REQ-TCP-005")
def test_a_partial_frame_is_dropped_with_the_connection_after_the_state_timer(
    tcp: Device, evidence: dict[str, Any]
) -> None:
    """A frame announced as 100 bytes with 10 sent: the connection stays up for the
    first half of the state timer and is closed once it has expired."""
    try:
        link = established(tcp, state_timer=SHORT_STATE_TIMER)
        timer = float(SHORT_STATE_TIMER)
    except (Blocked, StatusError):
        # No state_timer option (§13.5 as proposed; test builds MAY support it): the
        # default 30 s timer, a long wait. Without transport link this blocks again.
        link = established(tcp)
        timer = float(DEFAULT_STATE_TIMER)
    assert link.wire is not None
    link.wire.send((100).to_bytes(4, "big") + bytes([KIND_RECORD]) + b"\x00" * 9)
    started = time.monotonic()
    link.wire.silent(timer / 2)
    frames = link.wire.closed_within(started + timer + REACTION - time.monotonic())
    closed_after = time.monotonic() - started
    evidence.update(state_timer_s=timer, closed_after_s=round(closed_after, 3))
    assert all(f[:1] == bytes([KIND_RECORD]) for f in frames)
    assert closed_after >= timer * 0.9, "closed before the state timer expired"


# --- REQ-TCP-006 ---------------------------------------------------------------------------


@pytest.mark.requirement("REQ-TCP-006")
def test_the_test_agent_listens_on_its_own_port_with_the_same_prefix(tcp: Device) -> None:
    """ECHO of §13.2 on a fresh TAP connection: a 4-byte big-endian length, then the TAP
    message with no kind byte, both ways; the port differs from the protocol port.

    In process the reference agent is served by the listener of its host build
    (``pqiot agent --listen``, :class:`pqiot.hil.agent_server.AgentServer`).
    """
    with _tap_endpoint(tcp) as (host, port):
        link = start_link(tcp, "responder")
        protocol_port = int(link.url.rsplit(":", 1)[1])
        assert protocol_port != port, "the protocol listens on the Test Agent's port"
        request = bytes.fromhex("830201a16464617461420102")
        with closing(socket.create_connection((host, port), timeout=REACTION)) as sock:
            sock.sendall(len(request).to_bytes(4, "big") + request)
            wire = Wire(sock)
            response = wire.frame()
        assert response == bytes.fromhex("830100a16464617461420102"), (
            f"ECHO answer {response.hex()}; expected the §13.2 example with no kind byte"
        )
        tcp.client.session_close(link.session)


@contextmanager
def _tap_endpoint(device: Device) -> Iterator[tuple[str, int]]:
    channel = device.client.tap.channel
    if isinstance(channel, InMemoryChannel):
        from pqiot.hil.agent_server import AgentServer

        server = AgentServer(channel.agent, max_request=device.limit("max_tap_request", 8192))
        with server:
            yield server.address
        return
    sock = getattr(channel.link, "_sock", None)
    if not isinstance(sock, socket.socket):
        pytest.skip(
            "not applicable: REQ-TCP-006 binds a host build's Test Agent; this device's TAP "
            "is not reached over TCP"
        )
    host, port = sock.getpeername()[:2]
    yield str(host), int(port)


# --- REQ-TCP-007 ---------------------------------------------------------------------------


def _retry_bounds() -> tuple[float, float]:
    """§12.5: the total wait of 3 retries lies in [sum * (1 - jitter), sum]."""
    total = sum(BASE_DELAY * MULTIPLIER**n for n in range(CONNECT_RETRIES))
    return total * (1 - JITTER), total


@pytest.mark.requirement("REQ-TCP-007")
def test_a_refused_connection_attempt_is_retried(tcp: Device) -> None:
    """The tester's port refuses the first attempt (bound, not listening); it listens
    0.2 s later and the device Initiator's retry connects and sends message_1."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((TESTER_HOST, 0))
        link = start_link(tcp, "initiator", listener=sock)
        time.sleep(0.2)
        sock.listen(1)
        wire = accept(sock, timeout=sum(BASE_DELAY * MULTIPLIER**n for n in range(3)) + 1)
        link.wire = wire
        message_1 = wire.handshake()
        assert link.peer.deliver(message_1), "the retry did not carry a valid message_1"
        wire.close()


@pytest.mark.requirement("REQ-TCP-007")
def test_the_initiator_gives_up_after_three_retries_and_says_so(
    tcp: Device, evidence: dict[str, Any]
) -> None:
    """No listener at all: the session fails no sooner than three §12.5 backoffs allow
    and no later than they end, and the failure is reported (SESSION_INFO FAILED, the
    next command status 7; with AUDIT_READ: three ``retry`` and one ``give_up``)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((TESTER_HOST, 0))
        low, high = _retry_bounds()
        started = time.monotonic()
        link = start_link(tcp, "initiator", listener=sock)
        state = link.wait_state(("FAILED", "CLOSED"), timeout=high + REACTION)
        took = time.monotonic() - started
    evidence["gave_up_after_s"] = round(took, 3)
    evidence["expected_window_s"] = [low, high]
    assert state == "FAILED", f"the Initiator is {state} {took:.1f} s after an unreachable peer"
    assert took >= low * 0.95, (
        f"gave up after {took:.2f} s: three retries with §12.5 backoff take at least {low:g} s"
    )
    with pytest.raises(StatusError) as report:
        tcp.client.app_send(link.session, b"undeliverable")
    assert report.value.status == Status.PROTOCOL_ALERT, (
        f"the give-up is not reported to the application: {report.value}"
    )
    if tcp.declares("commands", int(Command.AUDIT_READ)):
        events = _audit_events(tcp)
        retries = [e for e in events if e.get("event") == "retry"]
        give_ups = [e for e in events if e.get("event") == "give_up"]
        assert len(retries) == CONNECT_RETRIES, f"{len(retries)} retry events, expected 3"
        assert len(give_ups) == 1, f"{len(give_ups)} give_up events, expected 1"
        assert give_ups[0]["detail"]["operation"] == "connect"  # type: ignore[index]


def _audit_events(device: Device) -> list[dict[str, object]]:
    import json

    events: list[dict[str, object]] = []
    while True:
        result = device.client.call(Command.AUDIT_READ, {})
        events += [json.loads(str(line)) for line in result.get("events", [])]  # type: ignore[union-attr]
        if not result.get("more"):
            return events


@pytest.mark.requirement("REQ-TCP-007", "REQ-TCP-003")
def test_a_lost_connection_is_recovered_by_a_new_handshake_not_by_records(
    tcp: Device,
) -> None:
    """After the connection of an established session is lost, its application data is
    refused; the next session comes on a new connection that starts with message_1."""
    with listening() as listener:
        link = start_link(tcp, "initiator", listener=listener)
        link.wire = accept(listener)
        complete_handshake(link)
        link.wire.close()
        assert link.wait_state(("CLOSED", "FAILED")) in ("CLOSED", "FAILED")
        with pytest.raises(StatusError):
            tcp.client.app_send(link.session, b"replay me later")
        parties = suite_parties(SUITE)
        fresh = ReferencePeer(
            "responder", [SUITE], parties["responder"], [parties["initiator"].credential]
        )
        host, port = listener.getsockname()[:2]
        session, out = start_session(
            tcp, "initiator", [SUITE], cred=link.kid, transport="link", link=f"tcp://{host}:{port}"
        )
        assert out == []
        wire = accept(listener)
        first = wire.frame()
        assert first[0] == KIND_HANDSHAKE, "the new connection starts with a record, not message_1"
        assert fresh.deliver(first[1:]), "the new connection's first message is not a message_1"
        wire.close()
        tcp.client.session_close(session)


# --- REQ-HS-039 ----------------------------------------------------------------------------


@pytest.mark.requirement("REQ-HS-039")
@pytest.mark.parametrize("role", ["initiator", "responder"])
def test_no_handshake_retransmission_over_tcp(
    tcp: Device, role: str, evidence: dict[str, Any]
) -> None:
    """The tester holds back its reply for longer than the serial retransmission timer:
    no second copy of message_1 (device Initiator) or message_2 (device Responder)
    arrives, and the late reply still completes the handshake."""
    if role not in tcp.statement.roles:
        pytest.skip(f"not applicable: the device does not declare the {role} role")
    if role == "initiator":
        with listening() as listener:
            link = start_link(tcp, "initiator", listener=listener)
            link.wire = accept(listener)
        pending = link.peer.deliver(link.wire.handshake())
    else:
        link = open_responder(tcp)
        assert link.wire is not None
        link.wire.send_frame(KIND_HANDSHAKE, link.peer.handshake_out()[0])
        pending = link.peer.deliver(link.wire.handshake())
    link.wire.silent(SERIAL_RTO + 0.5)
    evidence["silent_for_s"] = SERIAL_RTO + 0.5
    for message in pending:
        link.wire.send_frame(KIND_HANDSHAKE, message)
    if role == "initiator":
        for reply in link.peer.deliver(link.wire.handshake()):
            link.wire.send_frame(KIND_HANDSHAKE, reply)
    assert link.wait_state(("DONE", "FAILED")) == "DONE", "the late reply did not complete it"
    link.wire.close()
