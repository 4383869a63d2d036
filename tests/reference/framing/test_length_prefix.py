"""TCP framing: 4-byte big-endian length prefix with an enforced maximum."""

from __future__ import annotations

import pytest

from pqiot.reference.errors import Alert, DecodeError, ProtocolError
from pqiot.reference.framing.length_prefix import FrameDecoder, encode_frame


def test_frame_is_length_then_payload() -> None:
    assert encode_frame(b"abc").hex() == "00000003616263"


def test_frames_reassemble_from_any_chunking() -> None:
    stream = encode_frame(b"first") + encode_frame(b"y") + encode_frame(b"x" * 300)
    for chunk in (1, 2, 7, len(stream)):
        decoder = FrameDecoder()
        frames: list[bytes] = []
        for i in range(0, len(stream), chunk):
            frames += decoder.feed(stream[i : i + chunk])
        assert frames == [b"first", b"y", b"x" * 300]
        assert decoder.pending == 0


def test_oversize_announcement_rejected_before_buffering() -> None:
    decoder = FrameDecoder(max_frame=16)
    with pytest.raises(ProtocolError) as info:
        decoder.feed((17).to_bytes(4, "big"))
    assert info.value.alert is Alert.MESSAGE_TOO_LARGE


def test_sender_refuses_oversize_payload() -> None:
    with pytest.raises(ProtocolError):
        encode_frame(b"x" * 17, max_frame=16)


def test_eof_inside_a_frame_is_truncation() -> None:
    decoder = FrameDecoder()
    decoder.feed(encode_frame(b"hello")[:-1])
    with pytest.raises(DecodeError):
        decoder.check_eof()


def test_empty_frames_are_refused_both_ways() -> None:
    """REQ-TCP-002: a length of 0 is a protocol violation."""
    with pytest.raises(ValueError):
        encode_frame(b"")
    with pytest.raises(DecodeError):
        FrameDecoder().feed(b"\x00\x00\x00\x00")
