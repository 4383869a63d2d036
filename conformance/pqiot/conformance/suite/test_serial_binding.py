"""The serial binding (spec chapter 12 §12.1) observed on the line, and TAP ordering.

On a serial device the Test Agent (channel 1) and the protocol (channel 0) share one
byte stream. These tests write frames byte by byte, good and bad, and read everything
the device writes back through a recorder on the line, so framing, fragmentation,
reassembly, timers and channel separation are checked on the wire rather than through
TAP results. Sessions run with SESSION_START ``transport: "link"`` (§13.5): handshake
messages and records travel as channel-0 messages; the reference is the peer.

What a test can see: the device's output (frames, TAP answers, channel-0 messages) and
its session state. The link-error *counters* of REQ-SER-011 are a SHOULD with no TAP
field to read them, so "dropped" is observed as "no output, no state change, the line
still works"; every negative step ends with an ECHO whose answer must be the very next
TAP message (REQ-TAP-001 ordering), so a reply the device should not have sent cannot
hide behind a timeout.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from pqiot.conformance.conversation import HandshakeRun, other_role, provision, start_session
from pqiot.conformance.device import Device
from pqiot.conformance.peer import ReferencePeer, suite_parties
from pqiot.conformance.record_probes import EpochKeys, session_keys
from pqiot.hil.agent_client import ByteLink, SerialChannel, TapClient
from pqiot.hil.client import StatusError
from pqiot.hil.verdict import Blocked
from pqiot.reference.errors import DecodeError
from pqiot.reference.framing import cobs
from pqiot.reference.framing.serial_frames import crc32
from pqiot.reference.tap import messages
from pqiot.reference.tap.codes import Command, Status

SUITE = -102
CHANNEL_PROTOCOL = 0
CHANNEL_TAP = 1
KIND_HANDSHAKE = 0x00
KIND_RECORD = 0x01
APPLICATION_DATA = 0x01
#: §12.1.1: the record binding_context on the serial link is the channel byte.
SERIAL_CONTEXT = b"\x00"
#: REQ-SER-005: the channel-0 message limit and the default partial-message timeout.
PROTOCOL_LIMIT = 17408
PARTIAL_TIMEOUT = 2.0
#: REQ-SER-007: first retransmission timeout (doubled each time), retransmissions per message.
RTO = 2.0
MAX_RETRANSMISSIONS = 2
_HEADER = 4
_CRC = 4


# --- frames, built and parsed from §12.1.1 -------------------------------------------------


def raw_frame(
    channel: int,
    msg_id: int,
    index: int,
    count: int,
    fragment: bytes,
    *,
    crc: int | None = None,
    crc_order: Literal["little", "big"] = "little",
) -> bytes:
    """``channel || msg_id || frag_index || frag_count || fragment || crc32`` before COBS."""
    head = bytes([channel, msg_id, index, count]) + fragment
    value = crc32(head) if crc is None else crc
    return head + value.to_bytes(_CRC, crc_order)


def on_wire(raw: bytes) -> bytes:
    """COBS and the single ``00`` delimiter."""
    return cobs.encode(raw) + b"\x00"


def fragments(message: bytes, mtu: int) -> list[bytes]:
    """REQ-SER-001: ceil(len/MTU) pieces (at least one), all but the last exactly MTU bytes."""
    return [message[i : i + mtu] for i in range(0, len(message), mtu)] or [b""]


@dataclass(frozen=True)
class Frame:
    """One frame the device wrote, decoded and CRC-checked."""

    channel: int
    msg_id: int
    index: int
    count: int
    fragment: bytes


def parse_output(data: bytes) -> list[Frame]:
    """Every complete frame in ``data``; asserts REQ-SER-001's encoding of each one."""
    frames: list[Frame] = []
    complete = data[: data.rfind(b"\x00") + 1]
    for number, encoded in enumerate(complete.split(b"\x00")[:-1]):
        assert encoded, f"frame {number}: an empty frame (two 00 in a row); one 00 ends a frame"
        try:
            raw = cobs.decode(encoded)
        except DecodeError as exc:
            raise AssertionError(f"frame {number} is not valid COBS: {exc}") from exc
        assert len(raw) >= _HEADER + _CRC, f"frame {number}: {len(raw)} bytes, below 8"
        body, crc = raw[:-_CRC], int.from_bytes(raw[-_CRC:], "little")
        assert crc == crc32(body), (
            f"frame {number}: CRC {raw[-_CRC:].hex()} is not the little-endian CRC-32/ISO-HDLC "
            f"{crc32(body):08x} of the frame"
        )
        frames.append(Frame(body[0], body[1], body[2], body[3], body[_HEADER:]))
    return frames


def reassemble(frames: list[Frame], channel: int, mtu: int) -> list[tuple[int, bytes]]:
    """The (msg_id, message) pairs the device sent on ``channel``, checking REQ-SER-001."""
    found: list[tuple[int, bytes]] = []
    current: list[Frame] = []
    for frame in (f for f in frames if f.channel == channel):
        assert frame.count >= 1, f"channel {channel}: frag_count 0"
        expected = len(current)
        assert frame.index == expected, (
            f"channel {channel} msg_id {frame.msg_id}: fragment {frame.index} where fragment "
            f"{expected} was due (a sender sends the fragments of a message in order)"
        )
        if current:
            assert (frame.msg_id, frame.count) == (current[0].msg_id, current[0].count), (
                f"channel {channel}: msg_id/frag_count changed inside a message"
            )
        current.append(frame)
        if len(current) < frame.count:
            assert len(frame.fragment) == mtu, (
                f"channel {channel} msg_id {frame.msg_id}: fragment {frame.index} of "
                f"{frame.count} carries {len(frame.fragment)} bytes; all but the last carry "
                f"exactly the MTU {mtu}"
            )
            continue
        message = b"".join(f.fragment for f in current)
        assert frame.count == max(1, -(-len(message) // mtu)), (
            f"channel {channel} msg_id {frame.msg_id}: {frame.count} fragments for "
            f"{len(message)} bytes at MTU {mtu}; frag_count must be ceil(len/MTU)"
        )
        assert len(frame.fragment) <= mtu, f"a fragment of {len(frame.fragment)} > MTU {mtu}"
        found.append((frame.msg_id, message))
        current = []
    return found


# --- the line: a recorder on the byte link and helpers to talk on it ------------------------


class Recorder:
    """A :class:`ByteLink` that keeps every byte the device sent (and when it arrived)."""

    def __init__(self, inner: ByteLink) -> None:
        self.inner = inner
        self.received = bytearray()

    def send(self, data: bytes) -> None:
        self.inner.send(data)

    def receive(self, timeout: float) -> bytes:
        data = self.inner.receive(timeout)
        self.received += data
        return data

    def close(self) -> None:
        self.inner.close()


@dataclass
class Line:
    """The device's serial line: raw frames out, TAP answers and channel-0 messages in."""

    device: Device
    channel: SerialChannel
    recorder: Recorder
    mtu: int
    wait: float
    _request_id: int = 0x5E_0000
    _msg_id: int = 0x40

    @property
    def client(self) -> TapClient:
        return self.device.client.tap

    def msg_id(self) -> int:
        self._msg_id = (self._msg_id + 1) % 256
        return self._msg_id

    def put(self, *chunks: bytes) -> None:
        """Raw bytes on the line (the device's credential state is unknown afterwards)."""
        self.device.uses += 1
        self.device.loaded = None
        for chunk in chunks:
            self.channel.send_bytes(chunk)

    def request(self, command: int, args: dict[str, Any]) -> tuple[int, bytes]:
        self._request_id += 1
        return self._request_id, messages.encode_request(command, self._request_id, args)

    def frames(self, channel: int, message: bytes, msg_id: int | None = None) -> list[bytes]:
        """The wire frames of one message at the declared MTU, each with its delimiter."""
        ident = self.msg_id() if msg_id is None else msg_id
        pieces = fragments(message, self.mtu)
        return [on_wire(raw_frame(channel, ident, i, len(pieces), p)) for i, p in enumerate(pieces)]

    def send_protocol(self, message: bytes) -> None:
        """One channel-0 message (kind || body) at the declared MTU with a fresh msg_id."""
        self.put(*self.frames(CHANNEL_PROTOCOL, message))

    def next_tap(self, what: str) -> messages.TapResponse:
        message = self.channel.receive_message(time.monotonic() + self.wait)
        assert message is not None, f"{what}: no TAP answer within {self.wait} s"
        return messages.decode_response(message)

    def answered(self, what: str, *, channel_0_quiet: bool = True) -> list[messages.TapResponse]:
        """Every TAP answer the device sent since the last call, proven complete by an ECHO.

        The ECHO's answer must come after them and be correct (REQ-TAP-001/005), and (unless
        told otherwise) no channel-0 message may have arrived meanwhile.
        """
        marker = os.urandom(8)
        ident, request = self.request(Command.ECHO, {"data": marker})
        self.put(*self.frames(CHANNEL_TAP, request))
        before: list[messages.TapResponse] = []
        while True:
            response = self.next_tap(f"{what} (ECHO {ident})")
            if response.request_id == ident:
                break
            before.append(response)
            assert len(before) < 16, f"{what}: the device keeps answering: {before}"
        assert response.status == Status.OK and response.result == {"data": marker}, (
            f"{what}: the ECHO after it was answered wrongly: {response}"
        )
        stray = self.channel.receive_protocol(time.monotonic()) if channel_0_quiet else None
        assert stray is None, f"{what}: the device wrote on channel 0: {stray[:24].hex()}..."
        return before

    def quiet(self, what: str) -> None:
        """The device answered nothing on either channel (REQ-SER-011)."""
        before = self.answered(what)
        assert not before, f"{what}: the device answered {before}; the input must be dropped"

    def receive_handshake(self, what: str, timeout: float | None = None) -> bytes:
        limit = self.wait if timeout is None else timeout
        message = self.client.link_receive(limit)
        assert message is not None, f"no {what} on channel 0 within {limit:.1f} s"
        assert message[0] == KIND_HANDSHAKE, f"{what}: kind {message[0]:#04x}, expected 00"
        return message[1:]

    def state(self, session: int) -> str:
        return str(self.device.client.session_info(session)["state"])


def _declared_mtu(device: Device) -> int:
    return device.limit("serial_mtu", 0)


@pytest.fixture
def line(device: Device) -> Iterator[Line]:
    """The device's serial line with a recorder on it (serial binding declared)."""
    if not device.declares("bindings", "serial"):
        pytest.skip("not applicable: the statement declares no serial binding (spec §14.3)")
    channel = device.client.tap.channel
    if not isinstance(channel, SerialChannel):
        raise Blocked(
            "serial binding",
            "the device declares binding serial but the harness reaches its Test Agent over "
            "a transport without channel 0; give the target a serial transport URL "
            "(serial+tcp://, serial://, rfc2217://)",
        )
    mtu = _declared_mtu(device)
    if mtu != channel.mtu:
        raise Blocked(
            "serial binding",
            f"the device declares serial_mtu {mtu}; the harness line runs MTU {channel.mtu} "
            "and both ends must use the same MTU (REQ-SER-002): add ?mtu=N to the target's "
            "transport URL",
        )
    device.client.reset("sessions")  # no link session from an earlier test keeps sending
    while channel.receive_protocol(time.monotonic()) is not None:
        pass
    recorder = Recorder(channel.link)
    channel.link = recorder
    try:
        yield Line(device, channel, recorder, mtu, wait=max(device.client.timeout, 10.0))
    finally:
        channel.link = recorder.inner


# --- sessions on channel 0 --------------------------------------------------------------------


def start_link(line: Line, device_role: str, **options: Any) -> HandshakeRun:
    """Provision, SESSION_START with transport link; nothing exchanged yet on channel 0."""
    device = line.device
    kid, tester = provision(device, SUITE, device_role)
    own = suite_parties(SUITE)[device_role]
    peer = ReferencePeer(other_role(device_role), [SUITE], tester, [own.credential])
    session, out = start_session(
        device, device_role, [SUITE], cred=kid, transport="link", **options
    )
    assert out == [], "with transport link the handshake goes on channel 0, not in out (§13.3)"
    return HandshakeRun(device, session, peer, SUITE, device_role)


def message_1_of(run: HandshakeRun) -> bytes:
    """The reference Initiator's message_1 (device in the Responder role)."""
    (message_1,) = run.peer.handshake_out()
    return message_1


def finish_as_responder(line: Line, run: HandshakeRun, message_1: bytes) -> EpochKeys:
    """message_1 -> message_2 -> message_3 on channel 0; both sides DONE; the epoch-0 keys."""
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_1)
    (message_3,) = run.peer.deliver(line.receive_handshake("message_2"))
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_3)
    assert run.peer.established, "the reference did not complete the handshake"
    assert line.state(run.session) == "DONE", "the device did not reach DONE"
    return session_keys(run)


def link_handshake(line: Line, device_role: str = "responder") -> tuple[HandshakeRun, EpochKeys]:
    run = start_link(line, device_role)
    if device_role == "responder":
        return run, finish_as_responder(line, run, message_1_of(run))
    (message_2,) = run.peer.deliver(line.receive_handshake("message_1"))
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_2)
    assert run.peer.deliver(line.receive_handshake("message_3")) == []
    assert run.peer.established and line.state(run.session) == "DONE"
    return run, session_keys(run)


def sealed_record(keys: EpochKeys, ssn: int, data: bytes, context: bytes = SERIAL_CONTEXT) -> bytes:
    """kind 01 || the tester's record of application ``data`` at ``ssn``."""
    record = keys.tester.seal(ssn, bytes([APPLICATION_DATA]) + data, binding_context=context)
    return bytes([KIND_RECORD]) + record


def expect_device_record(line: Line, keys: EpochKeys, session: int, ssn: int, data: bytes) -> None:
    """APP_SEND puts exactly the §7.1 record under binding_context h'00' on channel 0."""
    assert line.device.client.app_send(session, data) == [], (
        "a link session's records go on the link"
    )
    message = line.client.link_receive(line.wait)
    assert message is not None, "APP_SEND: no record on channel 0"
    assert message[0] == KIND_RECORD, f"APP_SEND: kind {message[0]:#04x}, expected 01"
    plaintext = bytes([APPLICATION_DATA]) + data
    expected = keys.device.seal(ssn, plaintext, binding_context=SERIAL_CONTEXT)
    if message[1:] != expected:
        other = keys.device.seal(ssn, plaintext, binding_context=b"")
        hint = " (it is sealed with binding_context h'')" if message[1:] == other else ""
        raise AssertionError(
            f"the device's record differs from the §7.1 record at SSN {ssn} with "
            f"binding_context h'00'{hint}: got {message[1:].hex()}, expected {expected.hex()}"
        )


def echo_with_answer_of_size(line: Line, size: int) -> tuple[int, bytes, bytes]:
    """An ECHO request whose answer ``[request_id, 0, {"data": data}]`` is ``size`` bytes."""
    for _ in range(4):
        ident, _request = line.request(Command.ECHO, {"data": b""})
        empty = len(messages.encode_response(messages.TapResponse(ident, 0, {"data": b""})))
        for extra in range(max(0, size - empty - 4), size - empty + 1):
            data = bytes(i % 255 + 1 for i in range(extra))
            answer = messages.encode_response(messages.TapResponse(ident, 0, {"data": data}))
            if len(answer) == size:
                return ident, messages.encode_request(Command.ECHO, ident, {"data": data}), data
    raise AssertionError(f"no ECHO answer of exactly {size} bytes")


def echo_request_of_size(line: Line, size: int) -> tuple[int, bytes]:
    """An ECHO request exactly ``size`` bytes long (data padded with non-zero bytes)."""
    for _ in range(4):
        ident, probe = line.request(Command.ECHO, {"data": b""})
        for extra in range(max(0, size - len(probe) - 4), size - len(probe) + 1):
            request = messages.encode_request(Command.ECHO, ident, {"data": b"\xa5" * extra})
            if len(request) == size:
                return ident, request
    raise AssertionError(f"no ECHO request of exactly {size} bytes")


# --- REQ-SER-001, REQ-SER-002 ----------------------------------------------------------------


@pytest.mark.requirement("REQ-SER-001", "REQ-SER-002")
def test_device_frames_every_message_at_the_declared_mtu(
    line: Line, evidence: dict[str, Any]
) -> None:
    """Every frame the device writes is COBS || 00 with a little-endian CRC-32/ISO-HDLC,
    and every message is ceil(len/MTU) fragments of the declared MTU, the last one shorter
    or equal; msg_id counts up per channel. Covered: TAP answers of 1, 2 (exactly full) and
    3 fragments, and a handshake message and a record on channel 0."""
    mtu = line.mtu
    assert 128 <= mtu <= 1024, f"serial_mtu {mtu} is outside 128..1024 (REQ-SER-002)"
    run, keys = link_handshake(line, "responder")
    expect_device_record(line, keys, run.session, 0, b"framed record")
    for size in (2 * mtu, 2 * mtu + 37):  # a TAP answer of exactly two full fragments, then three
        ident, request, data = echo_with_answer_of_size(line, size)
        line.put(*line.frames(CHANNEL_TAP, request))
        response = line.next_tap(f"ECHO answered in {size} bytes")
        assert response.request_id == ident and response.result == {"data": data}, response
    frames = parse_output(bytes(line.recorder.received))
    seen: dict[str, Any] = {"frames": len(frames), "mtu": mtu}
    for channel in (CHANNEL_PROTOCOL, CHANNEL_TAP):
        sent = reassemble(frames, channel, mtu)
        ids = [ident for ident, _ in sent]
        for earlier, later in itertools.pairwise(ids):
            assert later == (earlier + 1) % 256, (
                f"channel {channel}: msg_id {later} follows {earlier}; the sender increments it "
                "(mod 256) for every new message (§12.1.1)"
            )
        seen[f"channel_{channel}"] = [
            {"msg_id": ident, "bytes": len(m), "fragments": max(1, -(-len(m) // mtu))}
            for ident, m in sent
        ]
    assert any(m["fragments"] > 1 for m in seen["channel_0"]), "message_2 spans several frames"
    assert {m["bytes"] for m in seen["channel_1"]} >= {2 * mtu}, "no exactly-full TAP answer"
    evidence["line"] = seen
    evidence["not_observable"] = (
        "REQ-SER-002 'configurable 128..1024': TAP cannot change the MTU; the test sees the "
        "declared value, that the device sends with it and (next test) receives with it"
    )


@pytest.mark.requirement("REQ-SER-002", "REQ-SER-003")
def test_fragments_of_the_declared_mtu_are_accepted_and_longer_ones_dropped(line: Line) -> None:
    """The device reassembles fragments of exactly the declared MTU (same MTU at both ends),
    one of them a frame of exactly the maximum encoded size (REQ-SER-003 discards only
    above it), and drops a frame whose decoded length is MTU + 9 (above MTU + 8)."""
    mtu = line.mtu
    ident, request = echo_request_of_size(line, 2 * mtu)
    widest = cobs.max_encoded_length(mtu + _HEADER + _CRC) + 1  # with its 00
    for msg_id in range(1, 256):  # fragment 1 has no 00 byte unless its CRC brings one
        frames = line.frames(CHANNEL_TAP, request, msg_id)
        if len(frames[1]) == widest:
            break
    else:
        raise AssertionError(f"no msg_id makes fragment 1 a {widest}-byte frame")
    line.put(*frames)
    response = line.next_tap(f"ECHO in two full fragments, the second {widest} bytes on the wire")
    assert response.request_id == ident and response.status == Status.OK
    long_id, long_request = echo_request_of_size(line, mtu + 1)
    line.put(on_wire(raw_frame(CHANNEL_TAP, line.msg_id(), 0, 1, long_request)))
    line.quiet(f"a single fragment of {mtu + 1} bytes (ECHO {long_id})")
    run = start_link(line, "responder")
    finish_as_responder(line, run, message_1_of(run))  # message_1 in MTU-sized fragments


# --- REQ-SER-003, REQ-SER-011 ----------------------------------------------------------------


def _broken_frames(channel: int, payload: bytes, line: Line) -> dict[str, bytes]:
    """One single-fragment message ``payload`` on ``channel``, damaged in each §12.1.3 way."""
    good = raw_frame(channel, line.msg_id(), 0, 1, payload)
    encoded = bytearray(cobs.encode(good))
    encoded[0] = min(255, len(encoded) + 3)  # the first block runs past the end
    crc = crc32(good[:-_CRC])
    head_crc = crc32(bytes([channel, 0x11, 0]))
    return {
        "COBS block past the end": bytes(encoded) + b"\x00",
        "COBS block cut short": b"\x03\x01\x00",
        "decoded length 7": on_wire(bytes([channel, 0x11, 0]) + head_crc.to_bytes(4, "little")),
        "decoded length 1": on_wire(bytes([channel])),
        "CRC with one bit flipped": on_wire(good[:-_CRC] + (crc ^ 0x80).to_bytes(4, "little")),
        "CRC big-endian": on_wire(good[:-_CRC] + crc.to_bytes(4, "big")),
        "reserved channel 2": on_wire(raw_frame(2, line.msg_id(), 0, 1, payload)),
        "reserved channel 255": on_wire(raw_frame(255, line.msg_id(), 0, 1, payload)),
        "frag_count 0": on_wire(raw_frame(channel, line.msg_id(), 0, 0, payload)),
        "frag_index 1 of 1": on_wire(raw_frame(channel, line.msg_id(), 1, 1, payload)),
        "frag_index 3 of 2": on_wire(raw_frame(channel, line.msg_id(), 3, 2, payload)),
    }


@pytest.mark.requirement("REQ-SER-003", "REQ-SER-011")
@pytest.mark.conversation
def test_broken_frames_are_dropped_without_output_or_state_change(
    line: Line, evidence: dict[str, Any]
) -> None:
    """Bad COBS, short frames, bad CRC, reserved channels, frag_count 0 and frag_index >=
    frag_count are dropped on both channels: a valid ECHO or record inside them is never
    processed, nothing is written, and the established link session is untouched."""
    run, keys = link_handshake(line, "responder")
    info = line.device.client.session_info(run.session)
    tried: list[str] = []
    for name, frame in _broken_frames(
        CHANNEL_TAP, line.request(Command.ECHO, {"data": b"x"})[1], line
    ).items():
        line.put(frame)
        line.quiet(f"channel 1, {name}")
        tried.append(f"channel 1: {name}")
    record = sealed_record(keys, 0, b"must not arrive")
    for name, frame in _broken_frames(CHANNEL_PROTOCOL, record, line).items():
        line.put(frame)
        line.quiet(f"channel 0, {name}")
        tried.append(f"channel 0: {name}")
    assert line.device.client.app_poll(run.session) == [], "a record in a broken frame arrived"
    assert line.device.client.session_info(run.session) == info, "link errors changed the session"
    line.send_protocol(sealed_record(keys, 0, b"intact"))
    assert line.device.client.app_poll(run.session) == [b"intact"]
    expect_device_record(line, keys, run.session, 0, b"still at SSN 0")
    evidence["dropped"] = tried
    evidence["not_observable"] = (
        "the per-category link-error counters (REQ-SER-011, SHOULD): TAP has no field for them"
    )


@pytest.mark.requirement("REQ-SER-003", "REQ-SER-011")
@pytest.mark.conversation
def test_an_overrun_discards_everything_up_to_the_next_delimiter(line: Line) -> None:
    """More than the maximum encoded frame size without a 00: the bytes up to the next 00
    are discarded, even when a complete valid frame ends there; the next frame is read."""
    limit = cobs.max_encoded_length(line.mtu + _HEADER + _CRC)
    ident, request = line.request(Command.ECHO, {"data": b"swallowed"})
    line.put(b"\x55" * (limit + 1), *line.frames(CHANNEL_TAP, request))
    line.quiet(f"{limit + 1} bytes without a delimiter, then ECHO {ident}")
    line.put(b"\x55" * (3 * limit) + b"\x00")  # a longer run, ended by a lone 00
    line.quiet("an overrun of three maximal frames")


# --- REQ-SER-004 ---------------------------------------------------------------------------


@pytest.mark.requirement("REQ-SER-004", "REQ-SER-011")
@pytest.mark.conversation
def test_reassembly_is_in_order_and_one_message_per_channel(line: Line) -> None:
    """Fragments out of order, repeated, from another msg_id or with another frag_count
    discard the partial message; a fragment 0 starts a new one; channels 0 and 1 are
    reassembled independently when their fragments interleave."""
    mtu = line.mtu

    def three(msg_id: int | None = None) -> tuple[int, list[bytes]]:
        ident, request = echo_request_of_size(line, 2 * mtu + 50)
        return ident, line.frames(CHANNEL_TAP, request, msg_id)

    def count_changed(frame: bytes) -> bytes:
        raw = bytearray(cobs.decode(frame[:-1]))
        return on_wire(raw_frame(raw[0], raw[1], raw[2], 4, bytes(raw[_HEADER:-_CRC])))

    cases: dict[str, tuple[list[bytes], list[int]]] = {}
    a, fa = three()
    cases["order 0, 2, 1"] = ([fa[0], fa[2], fa[1]], [])
    a, fa = three()
    cases["fragment 1 twice"] = ([fa[0], fa[1], fa[1], fa[2]], [])
    a, fa = three()
    b, fb = three()
    cases["last fragment from another msg_id"] = ([fa[0], fa[1], fb[2]], [])
    a, fa = three()
    cases["frag_count changes"] = ([fa[0], fa[1], count_changed(fa[2])], [])
    a, fa = three()
    b, fb = three()
    cases["a new message's fragment 0 discards the partial one"] = (
        [fa[0], *fb, fa[1], fa[2]],
        [b],
    )
    a, fa = three()
    cases["fragment 0 again restarts the message"] = ([fa[0], fa[0], fa[1], fa[2]], [a])
    for name, (frames, expected) in cases.items():
        line.put(*frames)
        answered = [r.request_id for r in line.answered(name)]
        assert answered == expected, f"{name}: answers for {answered}, expected {expected}"
    # Interleaved channels: each keeps its own partial message.
    # Channel 0: message_1 out of order is discarded; the waiting Responder sees nothing.
    run = start_link(line, "responder")
    message_1 = bytes([KIND_HANDSHAKE]) + message_1_of(run)
    hs = line.frames(CHANNEL_PROTOCOL, message_1)
    assert len(hs) >= 3, "message_1 spans at least three fragments"
    line.put(hs[0], hs[2], hs[1], *hs[3:])
    line.quiet("message_1 with fragments 1 and 2 swapped")
    assert line.state(run.session) == "START", "an out-of-order message reached the handshake"
    hs = line.frames(CHANNEL_PROTOCOL, message_1)
    a, fa = three()
    woven = [f for pair in zip(hs, fa + [b""] * len(hs), strict=False) for f in pair if f]
    line.put(*woven, *fa[len(hs) :])
    response = line.next_tap("ECHO interleaved with message_1")
    assert response.request_id == a and response.status == Status.OK
    (message_3,) = run.peer.deliver(line.receive_handshake("message_2 (interleaved message_1)"))
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_3)
    assert line.state(run.session) == "DONE"


# --- REQ-SER-005 ---------------------------------------------------------------------------


@pytest.mark.requirement("REQ-SER-005", "REQ-SER-011")
@pytest.mark.conversation
def test_a_partial_message_expires_2_s_after_its_last_fragment(line: Line) -> None:
    """A 2.5 s gap discards the partial message on either channel (its rest is ignored, the
    waiting Responder stays in START); gaps of 1.2 s do not, although the whole message then
    takes longer than 2 s."""
    mtu = line.mtu
    run = start_link(line, "responder")
    message_1 = bytes([KIND_HANDSHAKE]) + message_1_of(run)
    hs = line.frames(CHANNEL_PROTOCOL, message_1)
    ident, request = echo_request_of_size(line, 2 * mtu + 50)
    frames = line.frames(CHANNEL_TAP, request)
    line.put(hs[0], frames[0])
    time.sleep(PARTIAL_TIMEOUT + 0.5)
    line.put(*frames[1:], *hs[1:])
    line.quiet(f"ECHO {ident} and message_1 whose fragment 1 came 2.5 s after fragment 0")
    assert line.state(run.session) == "START", "an expired partial message reached the handshake"
    finish_as_responder(line, run, message_1[1:])
    ident, request = echo_request_of_size(line, 2 * mtu + 50)
    frames = line.frames(CHANNEL_TAP, request)
    for frame in frames:
        line.put(frame)
        if frame is not frames[-1]:
            time.sleep(0.6 * PARTIAL_TIMEOUT)
    answered = [r.request_id for r in line.answered("fragments 1.2 s apart")]
    assert answered == [ident], "a message whose fragments came 1.2 s apart was not answered"


@pytest.mark.requirement("REQ-SER-005", "REQ-SER-011")
@pytest.mark.conversation
def test_messages_above_the_channel_limit_are_discarded(line: Line) -> None:
    """Channel 0: a message needing frag_count x MTU > 17408 is discarded whole (here a
    kind-00 message the core would have answered), and the waiting Responder stays in START.
    Channel 1: a request announcing frag_count x MTU > max_tap_request is discarded at its
    first fragment and, as REQ-TAP-006 wants, answered once with status 4 and request_id
    null."""
    mtu = line.mtu
    run = start_link(line, "responder")
    count = PROTOCOL_LIMIT // mtu + 1
    oversized = bytes([KIND_HANDSHAKE]) + b"\xf6" * ((count - 1) * mtu)  # needs `count` frames
    line.put(*line.frames(CHANNEL_PROTOCOL, oversized))
    line.quiet(f"a channel-0 message of {count} fragments ({count * mtu} > {PROTOCOL_LIMIT})")
    assert line.state(run.session) == "START", "the oversized message reached the handshake"
    limit = line.device.limit("max_tap_request", 8192)
    count = limit // mtu + 1
    ident, request = echo_request_of_size(line, (count - 1) * mtu + 1)
    frames = line.frames(CHANNEL_TAP, request)
    assert len(frames) == count
    line.put(frames[0])  # §12.1.4: discarded at its first fragment, the rest is never needed
    answers = line.answered(f"fragment 0 of a {count}-fragment TAP request (ECHO {ident})")
    assert [(r.request_id, r.status) for r in answers] == [(None, Status.TOO_LARGE)], (
        f"frag_count x MTU = {count * mtu} > max_tap_request {limit}: expected one status-4 "
        f"answer with request_id null at the first fragment, got {answers}"
    )
    finish_as_responder(line, run, message_1_of(run))


# --- REQ-SER-006 ---------------------------------------------------------------------------


@pytest.mark.requirement("REQ-SER-006", "REQ-SER-011")
@pytest.mark.conversation
def test_reserved_kinds_are_dropped_and_records_bind_context_00(line: Line) -> None:
    """message_3 or a valid record behind a reserved kind byte is dropped without output or
    state change; records carry binding_context h'00' both ways, and a record sealed with
    h'' (the TCP context) is not accepted."""
    run = start_link(line, "responder")
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_1_of(run))
    (message_3,) = run.peer.deliver(line.receive_handshake("message_2"))
    for kind in (0x02, 0x7F, 0x80, 0xFF):
        line.send_protocol(bytes([kind]) + message_3)
    line.send_protocol(b"")
    line.quiet("message_3 behind reserved kinds, and an empty message")
    assert line.state(run.session) == "WAIT_M3", "a reserved kind reached the handshake"
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_3)
    assert line.state(run.session) == "DONE"
    keys = session_keys(run)
    record = sealed_record(keys, 0, b"reserved kind")
    line.send_protocol(bytes([0x02]) + record[1:])
    line.send_protocol(sealed_record(keys, 0, b"tcp context", context=b""))
    line.quiet("a record behind kind 02, and one sealed with binding_context h''")
    assert line.device.client.app_poll(run.session) == [], "a dropped record was delivered"
    line.send_protocol(sealed_record(keys, 0, b"serial context"))
    assert line.device.client.app_poll(run.session) == [b"serial context"]
    expect_device_record(line, keys, run.session, 0, b"from the device")


# --- REQ-SER-009 ---------------------------------------------------------------------------


@pytest.mark.requirement("REQ-SER-009")
@pytest.mark.conversation
def test_channel_0_and_channel_1_never_see_each_others_traffic(line: Line) -> None:
    """A TAP request sent on channel 0 (bare, or behind kind 00) is never answered as TAP;
    message_1 sent on channel 1 is a malformed TAP request (status 2) and never reaches the
    waiting Responder, which still answers it on channel 0."""
    run = start_link(line, "responder")
    message_1 = message_1_of(run)
    ident, request = line.request(Command.ECHO, {"data": b"on channel 0"})
    line.send_protocol(request)
    line.quiet(f"TAP ECHO {ident} as a channel-0 message")
    for framed in (bytes([KIND_HANDSHAKE]) + message_1, message_1):
        line.put(*line.frames(CHANNEL_TAP, framed))
        answers = line.answered("message_1 on channel 1")
        assert [r.status for r in answers] == [Status.MALFORMED], (
            f"message_1 on channel 1 must be one malformed TAP request: {answers}"
        )
    assert line.state(run.session) == "START", "channel-1 bytes reached the handshake"
    finish_as_responder(line, run, message_1)
    ident, request = line.request(Command.ECHO, {"data": b"behind kind 00"})
    line.send_protocol(bytes([KIND_HANDSHAKE]) + request)
    # What the established session makes of it on channel 0 is chapter 5's business.
    answers = line.answered(f"TAP ECHO {ident} behind kind 00", channel_0_quiet=False)
    assert ident not in [r.request_id for r in answers], "channel-0 bytes reached the Test Agent"


# --- REQ-SER-007, REQ-SER-010 --------------------------------------------------------------


def _channel_0_ids(line: Line, start: int) -> list[tuple[int, bytes]]:
    frames = parse_output(bytes(line.recorder.received[start:]))
    return reassemble(frames, CHANNEL_PROTOCOL, line.mtu)


@pytest.mark.requirement("REQ-SER-007", "REQ-SER-010")
def test_initiator_retransmits_message_1_after_2_s_and_4_s_then_stops(
    line: Line, evidence: dict[str, Any]
) -> None:
    """Unanswered, the device's message_1 comes again byte-identically under a new msg_id
    after 2 s and 4 s more, and no third time (the next would be due 8 s later); answering
    the last copy completes the handshake."""
    start = len(line.recorder.received)
    run = start_link(line, "initiator")
    sent_at = time.monotonic()
    first = line.receive_handshake("message_1")
    arrivals: list[float] = []
    for number in range(1, MAX_RETRANSMISSIONS + 1):
        again = line.receive_handshake(f"retransmission {number} of message_1", 3 * RTO)
        arrivals.append(time.monotonic())
        assert again == first, f"retransmission {number} differs from message_1"
    gaps = [arrivals[0] - sent_at, arrivals[1] - arrivals[0]]
    evidence["retransmission_gaps_s"] = [round(g, 3) for g in gaps]
    assert RTO - 0.2 <= gaps[0] <= RTO + 1.0, f"first retransmission after {gaps[0]:.2f} s, not 2"
    assert 2 * RTO - 0.3 <= gaps[1] <= 2 * RTO + 1.0, (
        f"second retransmission {gaps[1]:.2f} s after the first, expected 4 s (doubled)"
    )
    third = line.client.link_receive(arrivals[1] + 4 * RTO + 1.0 - time.monotonic())
    assert third is None, "a third retransmission: at most 2 per message (REQ-SER-007)"
    ids = [ident for ident, message in _channel_0_ids(line, start) if message[1:] == first]
    evidence["message_1_msg_ids"] = ids
    assert len(ids) == 1 + MAX_RETRANSMISSIONS and len(set(ids)) == len(ids), (
        f"message_1 and its retransmissions carried msg_ids {ids}; each needs a new one"
    )
    (message_2,) = run.peer.deliver(first)
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_2)
    assert run.peer.deliver(line.receive_handshake("message_3")) == []
    assert line.state(run.session) == "DONE"


@pytest.mark.requirement("REQ-SER-010")
def test_the_retransmission_timer_stops_when_message_2_arrives(line: Line) -> None:
    """message_2 answered at once: no copy of message_1 follows, neither when the first
    retransmission would have been due nor 2 s after message_3."""
    run = start_link(line, "initiator")
    sent_at = time.monotonic()
    (message_2,) = run.peer.deliver(line.receive_handshake("message_1"))
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_2)
    assert run.peer.deliver(line.receive_handshake("message_3")) == []
    until = max(sent_at + RTO, time.monotonic()) + RTO / 2
    late = line.client.link_receive(until - time.monotonic())
    assert late is None, f"the device sent {late[:16].hex() if late else ''}... after message_2"
    assert line.state(run.session) == "DONE"


@pytest.mark.requirement("REQ-SER-007", "REQ-SER-010")
def test_responder_answers_a_retransmitted_message_1_with_the_same_message_2(line: Line) -> None:
    """The Initiator's retransmission (same bytes, new msg_id) is reassembled as a new message
    and answered per REQ-HS-038: message_2 again, byte for byte; the handshake completes."""
    run = start_link(line, "responder")
    message_1 = message_1_of(run)
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_1)
    first = line.receive_handshake("message_2")
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_1)
    again = line.receive_handshake("message_2 for the retransmitted message_1")
    assert again == first, "the retransmitted message_1 got a different message_2"
    assert line.state(run.session) == "WAIT_M3"
    (message_3,) = run.peer.deliver(first)
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_3)
    assert line.state(run.session) == "DONE"


# --- REQ-SER-008 ---------------------------------------------------------------------------


def _corrupt(message: bytes) -> bytes:
    """message_3 with one bit of its ciphertext flipped (fails the device's checks)."""
    middle = len(message) // 2
    return message[:middle] + bytes([message[middle] ^ 0x01]) + message[middle + 1 :]


@pytest.mark.requirement("REQ-SER-008")
def test_a_new_handshake_replaces_the_established_session_only_when_done(line: Line) -> None:
    """While a new handshake runs on channel 0 the established session keeps carrying records
    both ways; a new handshake that fails leaves it in place; one that reaches DONE replaces
    it: the old session's records are no longer accepted."""
    device = line.device
    old, old_keys = link_handshake(line, "responder")
    new = start_link_again(line)
    line.send_protocol(bytes([KIND_HANDSHAKE]) + message_1_of(new))
    (message_3,) = new.peer.deliver(line.receive_handshake("new message_2"))
    line.send_protocol(sealed_record(old_keys, 0, b"during the new handshake"))
    assert device.client.app_poll(old.session) == [b"during the new handshake"]
    expect_device_record(line, old_keys, old.session, 0, b"old session still sends")
    line.send_protocol(bytes([KIND_HANDSHAKE]) + _corrupt(message_3))
    assert line.state(new.session) == "FAILED", "a corrupted message_3 did not fail the handshake"
    line.client.link_receive(0)  # its EDHOC error message, if any, is not under test here
    line.send_protocol(sealed_record(old_keys, 1, b"after the failed handshake"))
    assert device.client.app_poll(old.session) == [b"after the failed handshake"], (
        "a failed new handshake must leave the established session in place"
    )
    device.client.session_close(new.session)  # frees its slot; the link has no part in it
    newer = start_link_again(line)
    newer_keys = finish_as_responder(line, newer, message_1_of(newer))
    line.send_protocol(sealed_record(old_keys, 2, b"to the replaced session"))
    line.quiet("a record under the replaced session's keys")
    try:
        state = line.state(old.session)
    except StatusError as exc:
        assert exc.status == Status.INVALID_STATE, exc
    else:
        assert state != "DONE", "two established sessions on channel 0"
    assert device.client.app_poll(newer.session) == []
    line.send_protocol(sealed_record(newer_keys, 0, b"to the new session"))
    assert device.client.app_poll(newer.session) == [b"to the new session"]


def start_link_again(line: Line) -> HandshakeRun:
    """A second Responder session on the link beside the established one (no RESET)."""
    device = line.device
    own = suite_parties(SUITE)["responder"]
    tester = suite_parties(SUITE)["initiator"]
    peer = ReferencePeer("initiator", [SUITE], tester, [own.credential])
    kid = own.credential.kid
    session, out = start_session(device, "responder", [SUITE], cred=kid, transport="link")
    assert out == []
    return HandshakeRun(device, session, peer, SUITE, "responder")


# --- REQ-SER-012 ---------------------------------------------------------------------------


@pytest.mark.requirement("REQ-SER-012")
def test_serial_port_urls_of_a_host_implementation(device: Device) -> None:
    """REQ-SER-012 binds host software that opens a serial port from a URL; a device under
    test is handed a line, not a URL, so there is nothing to observe on it."""
    pytest.skip(
        "not applicable: REQ-SER-012 applies to a host implementation given a serial port by "
        "URL; the device under test opens no URL (the reference host transport's URL forms are "
        "tested in tests/transports/test_urls_and_topics.py)"
    )


# --- REQ-TAP-001 ---------------------------------------------------------------------------


@pytest.mark.requirement("REQ-TAP-001")
def test_pipelined_requests_are_answered_one_at_a_time_in_order(
    device: Device, evidence: dict[str, Any]
) -> None:
    """Three requests sent back to back without waiting (a slow one first, request_ids of
    1, 4 and 8 bytes out of order): three answers, in request order, each with its own
    request_id and its own result, and nothing else."""
    channel = device.client.tap.channel
    device.uses += 1
    slow: tuple[int, dict[str, Any]] = (Command.ECHO, {"data": bytes(range(256)) * 8})
    if device.declares("commands", int(Command.MLKEM_KEYGEN)) and device.declares(
        "primitives", "ml-kem-768"
    ):
        slow = (Command.MLKEM_KEYGEN, {"set": 768, "d": bytes(32), "z": bytes(range(32))})
    ids = [0xC0FFEE01, 7, 0x0123_4567_89AB_CDEF]
    requests = [
        messages.encode_request(slow[0], ids[0], slow[1]),
        messages.encode_request(Command.ECHO, ids[1], {"data": b"second"}),
        messages.encode_request(Command.ECHO, ids[2], {"data": b"third"}),
    ]
    for request in requests:
        channel.send_message(request)
    deadline = time.monotonic() + max(device.client.timeout, 10.0)
    answers: list[messages.TapResponse] = []
    for number in range(len(requests)):
        message = channel.receive_message(deadline)
        assert message is not None, f"answer {number + 1} of 3 missing: got {answers}"
        answers.append(messages.decode_response(message))
    evidence["answers"] = [(r.request_id, r.status) for r in answers]
    assert [r.request_id for r in answers] == ids, (
        f"answers carry request_ids {[r.request_id for r in answers]}, sent {ids} in that order"
    )
    assert all(r.status == Status.OK for r in answers), answers
    if slow[0] == Command.MLKEM_KEYGEN:
        assert len(bytes(answers[0].result["ek"])) == 1184  # type: ignore[arg-type]
    else:
        assert answers[0].result == slow[1]
    assert answers[1].result == {"data": b"second"} and answers[2].result == {"data": b"third"}
    extra = channel.receive_message(time.monotonic() + 0.3)
    assert extra is None, f"a fourth answer to three requests: {extra!r}"
    evidence["first_command"] = int(slow[0])
