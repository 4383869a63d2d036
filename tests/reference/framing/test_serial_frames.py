"""Serial frames: CRC-32, channel byte, fragmentation and reassembly (spec §12.1)."""

from __future__ import annotations

import pytest

from pqiot.reference.framing import cobs
from pqiot.reference.framing.serial_frames import (
    CHANNEL_PROTOCOL,
    CHANNEL_TAP,
    SerialReceiver,
    crc32,
    encode_message,
)

# spec §12.1.2: the record of §7.1.1 on channel 0 as message 7 (kind 01 || record).
RECORD_MESSAGE = bytes.fromhex("010309050142a2e3c3f8ef90c3bc2137f80c461bd896c8d72d384a")
RECORD_WIRE = bytes.fromhex(
    "01020721010103090501 42a2e3c3f8ef90c3bc2137f80c461bd896c8d72d384a 265cdff8 00".replace(" ", "")
)
# spec §13.2: ECHO request [2, 1, {"data": h'0102'}] on channel 1 as message 0.
ECHO_REQUEST = bytes.fromhex("830201a16464617461420102")
ECHO_WIRE = bytes.fromhex("0201011201830201a16464617461420102e33f5e2f00")


def test_crc_is_iso_hdlc() -> None:
    assert crc32(b"123456789") == 0xCBF43926


def test_spec_12_1_2_record_example() -> None:
    """REQ-SER-001: the §12.1.2 example, byte for byte, both directions."""
    assert encode_message(CHANNEL_PROTOCOL, 7, RECORD_MESSAGE) == RECORD_WIRE
    assert len(RECORD_WIRE) == 37
    raw = cobs.decode(RECORD_WIRE[:-1])
    assert raw[-4:] == (0xF8DF5C26).to_bytes(4, "little")
    assert SerialReceiver().feed(RECORD_WIRE, 0.0) == [(CHANNEL_PROTOCOL, RECORD_MESSAGE)]


def test_spec_13_2_echo_request_example() -> None:
    assert encode_message(CHANNEL_TAP, 0, ECHO_REQUEST) == ECHO_WIRE
    assert SerialReceiver().feed(ECHO_WIRE, 0.0) == [(CHANNEL_TAP, ECHO_REQUEST)]


def _frames(wire: bytes) -> list[bytes]:
    return [cobs.decode(part) for part in wire.split(b"\x00")[:-1]]


def test_fragmentation_uses_full_mtu_fragments_and_a_short_last_one() -> None:
    """REQ-SER-001: frag_count = ceil(len / MTU), every fragment but the last MTU bytes."""
    message = bytes(range(256)) * 3 + b"tail"  # 772 bytes
    raws = _frames(encode_message(CHANNEL_TAP, 9, message, mtu=256))
    assert [raw[:4] for raw in raws] == [bytes([1, 9, i, 4]) for i in range(4)]
    assert [len(raw) - 8 for raw in raws] == [256, 256, 256, 4]
    assert all(crc32(raw[:-4]).to_bytes(4, "little") == raw[-4:] for raw in raws)


def test_empty_message_is_one_empty_fragment() -> None:
    raws = _frames(encode_message(CHANNEL_TAP, 0, b""))
    assert len(raws) == 1 and len(raws[0]) == 8
    assert SerialReceiver().feed(encode_message(CHANNEL_TAP, 0, b""), 0.0) == [(CHANNEL_TAP, b"")]


@pytest.mark.parametrize("mtu", [128, 256, 1024])
def test_reassembly_byte_by_byte_and_in_one_chunk(mtu: int) -> None:
    message = bytes(i * 7 % 256 for i in range(3000))
    wire = encode_message(CHANNEL_PROTOCOL, 200, message, mtu=mtu)
    assert SerialReceiver(mtu).feed(wire, 0.0) == [(CHANNEL_PROTOCOL, message)]
    receiver = SerialReceiver(mtu)
    out = [m for i in range(len(wire)) for m in receiver.feed(wire[i : i + 1], 0.0)]
    assert out == [(CHANNEL_PROTOCOL, message)]


def test_mtu_outside_128_to_1024_is_refused() -> None:
    """REQ-SER-002."""
    with pytest.raises(ValueError, match="REQ-SER-002"):
        encode_message(0, 0, b"x", mtu=64)
    with pytest.raises(ValueError, match="REQ-SER-002"):
        SerialReceiver(2048)


def test_line_noise_is_dropped_and_the_receiver_resyncs_at_the_next_delimiter() -> None:
    """REQ-SER-003: bad COBS, bad CRC and short frames are dropped and counted."""
    receiver = SerialReceiver()
    corrupted = bytearray(ECHO_WIRE)
    corrupted[7] ^= 0x40
    noise = b"\x17\x99\x00" + b"\x05\x01\x00" + bytes(corrupted) + b"\x02\x01\x00"
    assert receiver.feed(noise + ECHO_WIRE, 0.0) == [(CHANNEL_TAP, ECHO_REQUEST)]
    assert receiver.counters.bad_frames == 4


def test_overlong_garbage_without_delimiter_is_discarded() -> None:
    """REQ-SER-003: more than a maximal encoded frame without 00 is skipped to the next 00."""
    receiver = SerialReceiver()
    assert receiver.feed(b"\x42" * 5000, 0.0) == []
    assert receiver.counters.overruns == 1
    # the bytes up to the next delimiter still belong to the garbage
    assert receiver.feed(b"\x42\x42" + ECHO_WIRE, 0.0) == []
    assert receiver.feed(ECHO_WIRE, 0.0) == [(CHANNEL_TAP, ECHO_REQUEST)]


def _raw_frame(channel: int, msg_id: int, index: int, count: int, fragment: bytes) -> bytes:
    raw = bytes([channel, msg_id, index, count]) + fragment
    return cobs.encode(raw + crc32(raw).to_bytes(4, "little")) + b"\x00"


@pytest.mark.parametrize(
    ("channel", "index", "count"),
    [(2, 0, 1), (255, 0, 1), (1, 0, 0), (1, 1, 1), (1, 3, 2)],
    ids=["reserved-2", "reserved-255", "count-0", "index-eq-count", "index-gt-count"],
)
def test_reserved_channels_and_bad_headers_are_dropped(
    channel: int, index: int, count: int
) -> None:
    """REQ-SER-003."""
    receiver = SerialReceiver()
    assert receiver.feed(_raw_frame(channel, 0, index, count, b"x"), 0.0) == []
    assert receiver.counters.bad_frames == 1


def test_out_of_order_fragment_discards_the_partial_message() -> None:
    """REQ-SER-004: fragments only in order, same msg_id and frag_count."""
    receiver = SerialReceiver(128)
    frames = encode_message(CHANNEL_TAP, 5, bytes(300), mtu=128).split(b"\x00")[:-1]
    first, second, third = (f + b"\x00" for f in frames)
    assert receiver.feed(first + third, 0.0) == []
    assert receiver.feed(second, 0.0) == []  # the message was discarded at the gap
    assert receiver.counters.broken_messages == 1
    assert receiver.feed(first + second + third, 0.0) == [(CHANNEL_TAP, bytes(300))]


def test_new_first_fragment_restarts_reassembly() -> None:
    """REQ-SER-004: a fragment with frag_index 0 starts a new message."""
    receiver = SerialReceiver(128)
    wire_a = encode_message(CHANNEL_TAP, 1, b"a" * 200, mtu=128)
    wire_b = encode_message(CHANNEL_TAP, 2, b"b" * 200, mtu=128)
    first_a = wire_a[: wire_a.index(b"\x00") + 1]
    assert receiver.feed(first_a + wire_b, 0.0) == [(CHANNEL_TAP, b"b" * 200)]


def test_partial_message_expires_after_the_reassembly_timeout() -> None:
    """REQ-SER-005: no fragment for 2 s (default) discards the partial message."""
    frames = [f + b"\x00" for f in encode_message(CHANNEL_TAP, 3, bytes(400)).split(b"\x00")[:-1]]
    receiver = SerialReceiver()
    assert receiver.feed(frames[0], 10.0) == []
    assert receiver.feed(frames[1], 12.5) == []
    assert receiver.counters.broken_messages == 1
    receiver = SerialReceiver()
    assert receiver.feed(frames[0], 10.0) == []
    assert receiver.feed(frames[1], 11.9) == [(CHANNEL_TAP, bytes(400))]


def test_message_above_the_channel_limit_is_refused_at_its_first_fragment() -> None:
    """REQ-SER-005: frag_count x MTU above the limit is counted as message_too_large."""
    receiver = SerialReceiver(256, limits={CHANNEL_TAP: 1024})
    assert receiver.feed(encode_message(CHANNEL_TAP, 0, bytes(1025)), 0.0) == []
    assert receiver.counters.message_too_large == 1
    assert receiver.feed(encode_message(CHANNEL_TAP, 1, bytes(1024)), 0.0) == [
        (CHANNEL_TAP, bytes(1024))
    ]


def test_short_middle_fragment_breaks_the_message() -> None:
    """REQ-SER-001: only the last fragment may be shorter than the MTU."""
    receiver = SerialReceiver(128)
    wire = _raw_frame(1, 4, 0, 2, b"x" * 100) + _raw_frame(1, 4, 1, 2, b"y")
    assert receiver.feed(wire, 0.0) == []
    assert receiver.counters.broken_messages == 1


def test_message_needing_more_than_255_fragments_is_refused() -> None:
    with pytest.raises(ValueError, match="255"):
        encode_message(CHANNEL_TAP, 0, bytes(128 * 255 + 1), mtu=128)
