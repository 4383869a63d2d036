"""The TAP client's channel-0 API (spec §12.1) against a scripted serial line, no firmware.

REQ-SER-009 on the host side: channel-0 frames that arrive while a TAP reply is awaited are
kept for :meth:`TapClient.link_receive`, TAP replies never surface there, and every
:meth:`TapClient.link_send` is a new message (new msg_id, REQ-SER-010).
"""

from __future__ import annotations

import pytest

from pqiot.hil.agent_client import (
    AgentError,
    LengthPrefixedChannel,
    SerialChannel,
    TapClient,
)
from pqiot.reference import cbor
from pqiot.reference.framing.serial_frames import (
    CHANNEL_PROTOCOL,
    CHANNEL_TAP,
    SerialReceiver,
    encode_message,
)


class ScriptedLine:
    """A ByteLink: records what the client sends; answers each TAP request from a script."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.inbound = bytearray()
        self.before_reply: list[bytes] = []  # channel-0 messages the "DUT" sends first
        self._tap_id = 0
        self._receiver = SerialReceiver()

    def send(self, data: bytes) -> None:
        self.sent += data
        for channel, message in self._receiver.feed(data, 0.0):
            if channel != CHANNEL_TAP:
                continue
            request = cbor.decode(message)
            assert isinstance(request, list) and len(request) == 3
            request_id, args = request[1], request[2]
            for index, payload in enumerate(self.before_reply):
                self.inbound += encode_message(CHANNEL_PROTOCOL, index, payload)
            self.before_reply = []
            reply = cbor.encode([request_id, 0, args])
            self.inbound += encode_message(CHANNEL_TAP, self._tap_id, reply)
            self._tap_id += 1

    def receive(self, timeout: float) -> bytes:
        data, self.inbound = bytes(self.inbound), bytearray()
        return data

    def close(self) -> None:
        pass


def test_channel_0_frames_during_a_tap_call_are_queued_not_dropped() -> None:
    line = ScriptedLine()
    client = TapClient(SerialChannel(line), timeout=1.0)
    line.before_reply = [b"\x00message_2", b"\x01" + bytes(600)]  # the second spans 3 fragments
    assert client.call(2, {"data": b"x"}).result == {"data": b"x"}
    assert client.link_receive(0.1) == b"\x00message_2"
    assert client.link_receive(0.1) == b"\x01" + bytes(600)
    assert client.link_receive(0.05) is None


def test_link_send_frames_each_message_on_channel_0_with_a_new_msg_id() -> None:
    line = ScriptedLine()
    client = TapClient(SerialChannel(line), timeout=1.0)
    client.link_send(b"\x00message_1")
    client.link_send(b"\x00message_1")  # a retransmission: same bytes, next msg_id
    expected = encode_message(CHANNEL_PROTOCOL, 0, b"\x00message_1") + encode_message(
        CHANNEL_PROTOCOL, 1, b"\x00message_1"
    )
    assert bytes(line.sent) == expected
    with pytest.raises(ValueError):
        client.link_send(b"")


def test_channel_0_needs_a_serial_line() -> None:
    client = TapClient(LengthPrefixedChannel(ScriptedLine()), timeout=1.0)
    with pytest.raises(AgentError, match="serial link"):
        client.link_send(b"\x00m")
    with pytest.raises(AgentError, match="serial link"):
        client.link_receive(0.0)
