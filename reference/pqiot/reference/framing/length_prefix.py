"""Length-prefixed frames for stream bindings (TCP, spec §12.2).

Each frame is a 4-byte big-endian length, then the payload.

The decoder is incremental (feed whatever the socket returned) and checks the
announced length against the limit *before* buffering the payload, so a peer
cannot make us allocate more than ``max_frame`` bytes.
"""

from __future__ import annotations

from pqiot.reference.errors import Alert, DecodeError, ProtocolError

HEADER_SIZE = 4
#: Default largest payload of a TCP frame (spec §12: 17408 bytes, configurable up to 65536).
MAX_FRAME = 17408
#: The configurable maximum may not exceed this.
MAX_FRAME_LIMIT = 65536


def encode_frame(payload: bytes, max_frame: int = MAX_FRAME) -> bytes:
    """Prefix ``payload`` with its length; refuse empty payloads and payloads over the limit."""
    if not payload:
        raise ValueError("a frame carries at least one byte (REQ-TCP-002)")
    if len(payload) > max_frame:
        raise ProtocolError(
            Alert.MESSAGE_TOO_LARGE, f"frame of {len(payload)} bytes exceeds {max_frame}"
        )
    return len(payload).to_bytes(HEADER_SIZE, "big") + payload


class FrameDecoder:
    """Reassemble frames from arbitrary chunks of a byte stream."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        if not 1 <= max_frame <= MAX_FRAME_LIMIT:
            raise ValueError(f"max_frame must be 1..{MAX_FRAME_LIMIT}, got {max_frame}")
        self._buffer = bytearray()
        self._max_frame = max_frame

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every frame completed by them, in order."""
        self._buffer += data
        frames: list[bytes] = []
        while len(self._buffer) >= HEADER_SIZE:
            length = int.from_bytes(self._buffer[:HEADER_SIZE], "big")
            if length == 0:
                raise DecodeError("peer sent an empty frame (REQ-TCP-002)")
            if length > self._max_frame:
                raise ProtocolError(
                    Alert.MESSAGE_TOO_LARGE,
                    f"peer announced a {length}-byte frame; the limit is {self._max_frame}",
                )
            if len(self._buffer) < HEADER_SIZE + length:
                break
            frames.append(bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + length]))
            del self._buffer[: HEADER_SIZE + length]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def check_eof(self) -> None:
        """Call at end of stream: a half-received frame is a truncation error."""
        if self._buffer:
            raise DecodeError(f"stream ended inside a frame ({len(self._buffer)} bytes pending)")
