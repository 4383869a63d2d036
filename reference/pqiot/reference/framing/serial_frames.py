"""Serial binding frames (spec §12.1): CRC-32, channel byte, fragmentation and reassembly.

``raw_frame = channel || msg_id || frag_index || frag_count || fragment || crc32 (LE)``,
COBS-encoded and terminated by ``00``. Sans-I/O: :func:`encode_message` returns the bytes
to write; :class:`SerialReceiver` takes whatever the port returned plus the current time
and returns completed ``(channel, message)`` pairs. Line errors never raise: like the
firmware, the receiver drops the frame, counts it and resynchronises at the next ``00``
(REQ-SER-003), so a noisy line cannot wedge the host side either.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from pqiot.reference.errors import DecodeError
from pqiot.reference.framing import cobs

__all__ = [
    "CHANNEL_PROTOCOL",
    "CHANNEL_TAP",
    "DEFAULT_MTU",
    "DEFAULT_TIMEOUT",
    "MAX_PROTOCOL_MESSAGE",
    "LinkCounters",
    "SerialReceiver",
    "crc32",
    "encode_message",
]

CHANNEL_PROTOCOL = 0
CHANNEL_TAP = 1
#: REQ-SER-002: MTU configurable 128..1024, default 256.
DEFAULT_MTU = 256
MIN_MTU = 128
MAX_MTU = 1024
#: REQ-SER-005: partial messages expire after 2 s by default (configurable 0.1..30 s).
DEFAULT_TIMEOUT = 2.0
#: REQ-SER-005: reassembled channel-0 messages are at most 17408 bytes.
MAX_PROTOCOL_MESSAGE = 17408
#: The TAP limit used when the peer's ``max_tap_request`` is not known yet.
DEFAULT_TAP_LIMIT = 16384

_HEADER = 4
_CRC = 4


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC (check value ``crc32(b"123456789") == 0xCBF43926``)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def _check_mtu(mtu: int) -> None:
    if not MIN_MTU <= mtu <= MAX_MTU:
        raise ValueError(f"serial MTU must be {MIN_MTU}..{MAX_MTU} (REQ-SER-002), got {mtu}")


def encode_message(channel: int, msg_id: int, message: bytes, mtu: int = DEFAULT_MTU) -> bytes:
    """Frame one message for the wire (REQ-SER-001): fragments, CRCs, COBS and delimiters."""
    _check_mtu(mtu)
    if not 0 <= channel <= 255 or not 0 <= msg_id <= 255:
        raise ValueError("channel and msg_id are single bytes")
    count = max(1, -(-len(message) // mtu))
    if count > 255:
        raise ValueError(
            f"a {len(message)}-byte message needs {count} fragments of {mtu}; the limit is 255"
        )
    wire = bytearray()
    for index in range(count):
        raw = bytes([channel, msg_id, index, count]) + message[index * mtu : (index + 1) * mtu]
        raw += crc32(raw).to_bytes(_CRC, "little")
        wire += cobs.encode(raw) + b"\x00"
    return bytes(wire)


@dataclass
class LinkCounters:
    """Link errors seen by a receiver (REQ-SER-003..005 say these are counted, not raised)."""

    bad_frames: int = 0
    overruns: int = 0
    broken_messages: int = 0
    message_too_large: int = 0


@dataclass
class _Partial:
    msg_id: int
    count: int
    next_index: int
    last_seen: float
    data: bytearray = field(default_factory=bytearray)


class SerialReceiver:
    """Incremental receiver: bytes in, reassembled ``(channel, message)`` out.

    ``limits`` maps each accepted channel to its largest message; frames on other channels
    are dropped as reserved. Memory stays bounded: the line buffer holds at most one maximal
    encoded frame and each channel at most its limit.
    """

    def __init__(
        self,
        mtu: int = DEFAULT_MTU,
        *,
        limits: dict[int, int] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        _check_mtu(mtu)
        if not 0.1 <= timeout <= 30:
            raise ValueError(f"reassembly timeout must be 0.1..30 s (REQ-SER-005), got {timeout}")
        self.mtu = mtu
        self.timeout = timeout
        self.limits = (
            dict(limits)
            if limits is not None
            else {CHANNEL_PROTOCOL: MAX_PROTOCOL_MESSAGE, CHANNEL_TAP: DEFAULT_TAP_LIMIT}
        )
        self.counters = LinkCounters()
        self._max_line = cobs.max_encoded_length(mtu + _HEADER + _CRC)
        self._line = bytearray()
        self._discarding = False
        self._partial: dict[int, _Partial] = {}

    def feed(self, data: bytes, now: float) -> list[tuple[int, bytes]]:
        """Add received bytes; return the messages they complete.

        ``now`` is the current time in seconds (any monotonic origin), for REQ-SER-005.
        """
        messages: list[tuple[int, bytes]] = []
        start = 0
        while start < len(data):
            end = data.find(b"\x00", start)
            chunk = data[start:] if end < 0 else data[start:end]
            self._append(chunk)
            if end < 0:
                break
            start = end + 1
            if self._discarding:
                self._discarding = False
            elif self._line:
                message = self._frame(bytes(self._line), now)
                if message is not None:
                    messages.append(message)
            self._line.clear()
        return messages

    def _append(self, chunk: bytes) -> None:
        if self._discarding or not chunk:
            return
        if len(self._line) + len(chunk) > self._max_line:
            # REQ-SER-003: no delimiter within a maximal frame; skip to the next 00.
            self.counters.overruns += 1
            self._line.clear()
            self._discarding = True
            return
        self._line += chunk

    def _frame(self, encoded: bytes, now: float) -> tuple[int, bytes] | None:
        try:
            raw = cobs.decode(encoded)
        except DecodeError:
            self.counters.bad_frames += 1
            return None
        if not _HEADER + _CRC <= len(raw) <= self.mtu + _HEADER + _CRC or crc32(
            raw[:-_CRC]
        ) != int.from_bytes(raw[-_CRC:], "little"):
            self.counters.bad_frames += 1
            return None
        channel, msg_id, index, count = raw[:_HEADER]
        fragment = raw[_HEADER:-_CRC]
        limit = self.limits.get(channel)
        if limit is None or count == 0 or index >= count:
            self.counters.bad_frames += 1
            return None
        partial = self._partial.get(channel)
        if partial is not None and now - partial.last_seen > self.timeout:
            self.counters.broken_messages += 1  # REQ-SER-005
            del self._partial[channel]
            partial = None
        if index == 0:
            if partial is not None:
                self.counters.broken_messages += 1
                del self._partial[channel]
            if count * self.mtu > limit:
                self.counters.message_too_large += 1
                return None
            partial = _Partial(msg_id=msg_id, count=count, next_index=0, last_seen=now)
            self._partial[channel] = partial
        elif partial is None or (msg_id, count, index) != (
            partial.msg_id,
            partial.count,
            partial.next_index,
        ):
            # REQ-SER-004: strictly in order, same message.
            if partial is not None:
                self.counters.broken_messages += 1
                del self._partial[channel]
            return None
        if index + 1 < count and len(fragment) != self.mtu:
            self.counters.broken_messages += 1
            del self._partial[channel]
            return None
        partial.data += fragment
        partial.next_index += 1
        partial.last_seen = now
        if partial.next_index < count:
            return None
        del self._partial[channel]
        return channel, bytes(partial.data)
