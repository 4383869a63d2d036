"""The firmware's serial binding (spec §12.1): sessions on channel 0 of the TAP serial line.

SESSION_START with ``transport: "link"`` (§13.5) puts the session on channel 0: handshake
messages (kind 00) and records (kind 01, binding_context h'00') travel as channel-0 messages,
and TAP results carry no ``out``. The peer is the Python reference :class:`Session`, fed and
read through :meth:`TapClient.link_send` / :meth:`TapClient.link_receive`.

Targets: ``host`` and ``host-asan`` (stdio, serial framing), ``host-fw`` (TCP with
``--framing serial``, as ``targets/host-fw.toml`` launches it) and ``qemu-m4`` (UART0 through
QEMU) for one Responder handshake with echo.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pqiot.hil.agent_client import Command, Status, TapClient, spawn_host, spawn_qemu
from pqiot.hil.links import connect_url, free_port
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.framing.serial_frames import encode_message
from pqiot.reference.session import (
    KIND_HANDSHAKE,
    KIND_RECORD,
    ApplicationData,
    Session,
    SessionState,
)

from .conftest import build_image
from .peer import (
    as_int,
    byte_list,
    device_identity,
    host_identity,
    load_credentials,
    reference_config,
)

SERIAL_BINDING_CONTEXT = b"\x00"  # REQ-SER-006
WAIT = 10.0


@dataclass
class LinkPeer:
    """A firmware session on channel 0 and the reference session at the other end."""

    client: TapClient
    session: int
    peer: Session
    now: float = 1.0

    def flush(self) -> list[bytes]:
        """Send what the reference wants to send; return it."""
        sent = self.peer.data_to_send()
        for payload in sent:
            self.client.link_send(payload)
        return sent

    def pump(self, timeout: float = WAIT) -> bytes:
        """One channel-0 message from the firmware into the reference; returned as received."""
        message = self.client.link_receive(timeout)
        assert message is not None, "the firmware sent nothing on channel 0"
        self.peer.receive(message, self.now)
        return message

    def received(self) -> list[bytes]:
        return [e.data for e in self._events() if isinstance(e, ApplicationData)]

    def _events(self) -> Iterator[object]:
        while (event := self.peer.next_event()) is not None:
            yield event

    def info(self) -> dict[str, object]:
        return dict(self.client.call(Command.SESSION_INFO, {"session": self.session}).ok())


def _reference(role: str) -> Session:
    config = reference_config(role, host_identity(), device_identity())
    return Session(
        Initiator(config) if role == "initiator" else Responder(config),
        binding_context=SERIAL_BINDING_CONTEXT,
    )


def start_link(client: TapClient, firmware_role: str, *, echo: bool = False) -> LinkPeer:
    """Provision, SESSION_START with transport link; nothing exchanged yet."""
    load_credentials(client, device_identity(), host_identity())
    peer = _reference("initiator" if firmware_role == "responder" else "responder")
    peer.start(0.0)
    randomness = (
        {"kem_seed": bytes(range(64))} if firmware_role == "initiator" else {"kem_m": bytes(32)}
    )
    started = client.session_start(
        firmware_role,
        method=0,
        suites=[-102],
        cred=device_identity().kid,
        transport="link",
        echo=echo,
        **randomness,
    ).ok()
    assert started["out"] == [], "with transport link the messages go on the link, not in out"
    return LinkPeer(client, as_int(started["session"]), peer)


def link_handshake(client: TapClient, firmware_role: str, *, echo: bool = False) -> LinkPeer:
    """A complete handshake over channel 0 in the given firmware role."""
    link = start_link(client, firmware_role, echo=echo)
    if firmware_role == "responder":
        (message_1,) = link.flush()
        assert message_1[0] == KIND_HANDSHAKE
        assert link.pump()[0] == KIND_HANDSHAKE  # message_2
        (message_3,) = link.flush()
        assert message_3[0] == KIND_HANDSHAKE
    else:
        assert link.pump()[0] == KIND_HANDSHAKE  # message_1
        (message_2,) = link.flush()
        assert message_2[0] == KIND_HANDSHAKE
        assert link.pump()[0] == KIND_HANDSHAKE  # message_3
    assert link.peer.state is SessionState.ESTABLISHED
    assert link.info()["state"] == "DONE"
    return link


# --- targets ----------------------------------------------------------------------------------


def _spawn_host_fw() -> tuple[TapClient, subprocess.Popen[bytes]]:
    """host-fw as targets/host-fw.toml launches it: TCP carrying the serial framing."""
    image = build_image("host")
    port = free_port()
    process = subprocess.Popen(
        [str(image), "--listen", str(port), "--bind", "127.0.0.1", "--framing", "serial"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = connect_url(
        f"serial+tcp://127.0.0.1:{port}", timeout=30, connect_timeout=10, process=process
    )
    return client, process


@pytest.fixture(scope="module", params=["host", "host-fw", "host-asan"])
def link_client(request: pytest.FixtureRequest) -> Iterator[TapClient]:
    """A host build with a serial line: stdio pipes (also under ASan+UBSan), or TCP with
    --framing serial."""
    if request.param in ("host", "host-asan"):
        client = spawn_host(build_image(str(request.param)), timeout=30)
        try:
            yield client
        finally:
            client.close()
        return
    client, process = _spawn_host_fw()
    try:
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


# --- host and host-fw -------------------------------------------------------------------------


def test_identify_declares_the_serial_binding(link_client: TapClient) -> None:
    """REQ-TAP-008: serial is declared, with the MTU the link really uses (REQ-SER-002)."""
    identity = link_client.identify()
    assert identity["bindings"] == ["serial"]
    assert identity["serial_mtu"] == 256
    assert Command.APP_POLL in identity["commands"]  # type: ignore[operator]


@pytest.mark.parametrize("role", ["responder", "initiator"])
def test_handshake_over_channel_0_in_both_roles(link_client: TapClient, role: str) -> None:
    """REQ-SER-001/006: EDHOC messages as kind-00 channel-0 messages; both sides reach DONE
    and derive the same keys (records under binding_context h'00' decrypt both ways)."""
    link = link_handshake(link_client, role)
    sent = link_client.call(Command.APP_SEND, {"session": link.session, "data": b"from fw"}).ok()
    assert sent == {"out": []}, "a link session's records go on the link"
    record = link.pump()
    assert record[0] == KIND_RECORD
    assert link.received() == [b"from fw"]
    link.peer.send(b"to fw", link.now)
    link.flush()
    polled = link_client.call(Command.APP_POLL, {"session": link.session}).ok()
    assert polled == {"data": [b"to fw"]}
    assert link_client.call(Command.APP_POLL, {"session": link.session}).ok() == {"data": []}


def test_echo_application_returns_every_record(link_client: TapClient) -> None:
    """§13.5 echo: each received application_data comes back as a record on channel 0."""
    link = link_handshake(link_client, "responder", echo=True)
    for data in (b"one", b"", bytes(range(256)) * 4):
        link.peer.send(data, link.now)
        link.flush()
        assert link.pump()[0] == KIND_RECORD
        assert link.received() == [data]
    polled = link_client.call(Command.APP_POLL, {"session": link.session}).ok()
    assert polled == {"data": []}, "the echo application consumed the data"


def test_retransmitted_message_1_gets_the_identical_message_2(link_client: TapClient) -> None:
    """REQ-SER-010 + REQ-HS-038: message_1 again under a new msg_id is a retransmission: the
    same message_2 byte for byte, the handshake still completes."""
    link = start_link(link_client, "responder")
    (message_1,) = link.flush()
    first = link_client.link_receive(WAIT)
    link_client.link_send(message_1)
    second = link_client.link_receive(WAIT)
    assert first is not None and second == first
    assert link.info()["state"] == "WAIT_M3"
    link.peer.receive(first, link.now)
    link.flush()
    assert link.info()["state"] == "DONE"
    assert link.peer.state is SessionState.ESTABLISHED


def test_initiator_in_done_answers_a_repeated_message_2_with_message_3(
    link_client: TapClient,
) -> None:
    """REQ-HS-038 on the link: the Responder lost message_3 and resends message_2; the
    Initiator, already DONE, sends the same message_3 again and its records continue."""
    link = start_link(link_client, "initiator")
    link.pump()  # message_1
    (message_2,) = link.flush()
    message_3 = link_client.link_receive(WAIT)
    assert message_3 is not None and message_3[0] == KIND_HANDSHAKE
    link_client.link_send(message_2)
    assert link_client.link_receive(WAIT) == message_3
    link.peer.receive(message_3, link.now)
    assert link.peer.state is SessionState.ESTABLISHED
    link_client.call(Command.APP_SEND, {"session": link.session, "data": b"after"}).ok()
    link.pump()
    assert link.received() == [b"after"]


def test_line_noise_between_frames_is_ignored(link_client: TapClient) -> None:
    """REQ-SER-003/006/011: garbage, bad CRCs, reserved channels and kinds produce nothing and
    change nothing; the handshake around them completes."""
    link = start_link(link_client, "responder")
    channel = link_client.channel
    noise = [
        b"\x00\x00",
        b"line noise\x00",
        bytes([0xFF] * 40) + b"\x00",
        encode_message(0, 9, b"\x00bad crc")[:-3] + b"\x01\x02\x00",  # CRC broken
        encode_message(3, 0, b"\x00reserved channel"),
        encode_message(0, 200, b"\x07reserved kind"),
        encode_message(0, 201, b""),  # empty channel-0 message: no kind at all
    ]
    (message_1,) = link.peer.data_to_send()
    for junk in noise:
        channel.send_bytes(junk)  # type: ignore[attr-defined]
    link_client.link_send(message_1)
    for junk in noise:
        channel.send_bytes(junk)  # type: ignore[attr-defined]
    link.pump()
    link.flush()
    assert link.info()["state"] == "DONE"
    assert link_client.link_receive(0.3) is None, "link errors must produce no output"
    assert link_client.call(Command.ECHO, {"data": b"tap"}).ok() == {"data": b"tap"}


def _frames(message: bytes, msg_id: int) -> list[bytes]:
    """The channel-0 frames of one message, each with its 00 delimiter."""
    encoded = encode_message(0, msg_id, message)
    return [frame + b"\x00" for frame in encoded.split(b"\x00") if frame]


def test_out_of_order_and_oversized_channel_0_messages_are_discarded(
    link_client: TapClient,
) -> None:
    """REQ-SER-004: fragments out of order discard the partial message; REQ-SER-005: a message
    whose frag_count x MTU exceeds the channel-0 buffer is discarded at its first fragment.
    Neither is answered, and the handshake that follows completes."""
    link = start_link(link_client, "responder")
    (message_1,) = link.peer.data_to_send()
    frames = _frames(message_1, 40)
    assert len(frames) >= 3, "message_1 of ML-KEM-768 spans several 256-byte fragments"
    channel = link_client.channel
    channel.send_bytes(b"".join([frames[0], frames[2], frames[1], *frames[3:]]))  # type: ignore[attr-defined]
    channel.send_bytes(b"".join(_frames(b"\x00" + bytes(6000), 41)))  # type: ignore[attr-defined]
    assert link_client.link_receive(0.5) is None
    link_client.link_send(message_1)
    link.pump()
    link.flush()
    assert link.info()["state"] == "DONE"


@pytest.mark.slow
def test_a_partial_channel_0_message_expires_after_2_s(link_client: TapClient) -> None:
    """REQ-SER-005: no fragment for 2 s discards the partial message; its rest is ignored."""
    link = start_link(link_client, "responder")
    (message_1,) = link.peer.data_to_send()
    frames = _frames(message_1, 50)
    channel = link_client.channel
    channel.send_bytes(frames[0])  # type: ignore[attr-defined]
    time.sleep(2.5)
    channel.send_bytes(b"".join(frames[1:]))  # type: ignore[attr-defined]
    assert link_client.link_receive(0.5) is None
    assert link.info()["state"] == "START"
    link_client.link_send(message_1)
    link.pump()


def test_channel_1_traffic_never_reaches_the_session(link_client: TapClient) -> None:
    """REQ-SER-009: a handshake message sent as a TAP message is a malformed TAP request, and
    TAP responses never appear on channel 0."""
    link = start_link(link_client, "responder")
    (message_1,) = link.peer.data_to_send()
    response = link_client.call_raw(message_1[1:])
    assert response.status == Status.MALFORMED
    assert link.info()["state"] == "START"
    assert link_client.link_receive(0.2) is None


def test_initiator_retransmits_message_1_after_2_s(link_client: TapClient) -> None:
    """REQ-SER-007/010: no reply within 2 s brings message_1 again (same bytes, new msg_id);
    answering the retransmission completes the handshake."""
    link = start_link(link_client, "initiator")
    first = link_client.link_receive(WAIT)
    begin = time.monotonic()
    again = link_client.link_receive(WAIT)
    waited = time.monotonic() - begin
    assert again is not None and again == first
    assert 1.5 <= waited <= 3.5, f"first retransmission after {waited:.2f} s, expected ~2 s"
    link.peer.receive(again, link.now)
    link.flush()
    link.pump()
    assert link.peer.state is SessionState.ESTABLISHED


@pytest.mark.slow
def test_initiator_timer_stops_when_message_2_arrives(link_client: TapClient) -> None:
    """REQ-SER-010: once a kind-00 message is reassembled, message_1 is not sent again."""
    link = link_handshake(link_client, "initiator")
    assert link_client.link_receive(4.5) is None, "no retransmission after message_2"
    assert link.info()["state"] == "DONE"


@pytest.mark.slow
def test_initiator_retransmits_twice_with_doubling_timeouts(link_client: TapClient) -> None:
    """REQ-SER-007: retransmissions after 2 s and 4 s more, then no third one."""
    start_link(link_client, "initiator")
    first = link_client.link_receive(WAIT)
    stamps = []
    for _ in range(2):
        again = link_client.link_receive(WAIT)
        stamps.append(time.monotonic())
        assert again == first
    assert link_client.link_receive(9.0) is None, "at most 2 retransmissions per message"
    gap = stamps[1] - stamps[0]
    assert 3.5 <= gap <= 5.0, f"second timeout {gap:.2f} s, expected 4 s"


def test_a_new_link_handshake_replaces_the_established_one(link_client: TapClient) -> None:
    """REQ-SER-008: the old session carries records until the new one is DONE, then goes."""
    old = link_handshake(link_client, "responder")
    peer = _reference("initiator")
    peer.start(0.0)
    started = link_client.session_start(
        "responder",
        method=0,
        suites=[-102],
        cred=device_identity().kid,
        transport="link",
        kem_m=bytes(range(32)),
    ).ok()
    new = LinkPeer(link_client, as_int(started["session"]), peer)
    new.flush()
    new.pump()  # message_2
    old.peer.send(b"still here", old.now)
    old.flush()
    polled = link_client.call(Command.APP_POLL, {"session": old.session}).ok()
    assert polled == {"data": [b"still here"]}
    new.flush()  # message_3
    assert new.info()["state"] == "DONE"
    gone = link_client.call(Command.SESSION_INFO, {"session": old.session})
    assert gone.status == Status.INVALID_STATE


def test_transport_link_is_refused_without_the_serial_framing() -> None:
    """--listen with the length prefix has no channel 0: transport link is status 3."""
    image = build_image("host")
    port = free_port()
    process = subprocess.Popen(
        [str(image), "--listen", str(port), "--bind", "127.0.0.1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with connect_url(
            f"tcp://127.0.0.1:{port}", timeout=30, connect_timeout=10, process=process
        ) as client:
            load_credentials(client, device_identity(), host_identity())
            response = client.session_start(
                "responder",
                method=0,
                suites=[-102],
                cred=device_identity().kid,
                transport="link",
                kem_m=bytes(32),
            )
            assert response.status == Status.UNSUPPORTED
            identity = client.identify()
            assert identity["bindings"] == [] and identity["serial_mtu"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- qemu-m4 ---------------------------------------------------------------------------------


def test_qemu_m4_responder_handshake_and_echo_over_uart() -> None:
    """The Cortex-M4 image: a Responder handshake on channel 0 of UART0, then echo."""
    client = spawn_qemu(build_image("qemu-m4"), timeout=60)
    try:
        link = start_link(client, "responder", echo=True)
        link.flush()
        link.pump(60)
        link.flush()
        link.peer.send(b"hello m4", link.now)
        link.flush()
        assert link.pump(60)[0] == KIND_RECORD
        assert link.received() == [b"hello m4"]
        assert (
            byte_list(client.call(Command.APP_POLL, {"session": link.session}).ok()["data"]) == []
        )
    finally:
        client.close()
