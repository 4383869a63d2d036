"""COBS encoding of the serial binding (spec §12.1.1).

The byte-level examples are the encoding examples of the Wikipedia article
"Consistent Overhead Byte Stuffing" (which follow Cheshire & Baker, IEEE/ACM ToN 1999).
"""

from __future__ import annotations

import pytest

from pqiot.reference.errors import DecodeError
from pqiot.reference.framing import cobs

RUN_254 = bytes(range(1, 255))
EXAMPLES = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (RUN_254, b"\xff" + RUN_254),
    (b"\x00" + RUN_254, b"\x01\xff" + RUN_254),
    (RUN_254 + b"\xff", b"\xff" + RUN_254 + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


@pytest.mark.parametrize(("data", "encoded"), EXAMPLES, ids=range(len(EXAMPLES)))
def test_published_examples_encode_and_decode(data: bytes, encoded: bytes) -> None:
    assert cobs.encode(data) == encoded
    assert cobs.decode(encoded) == data


def test_empty_input_encodes_to_one_code_byte() -> None:
    assert cobs.encode(b"") == b"\x01"
    assert cobs.decode(b"\x01") == b""


@pytest.mark.parametrize("length", [0, 1, 253, 254, 255, 508, 509, 1100])
def test_encoding_has_no_zero_and_respects_the_worst_case_bound(length: int) -> None:
    for data in (bytes(length), bytes((i % 255) + 1 for i in range(length))):
        encoded = cobs.encode(data)
        assert 0 not in encoded
        assert len(encoded) <= cobs.max_encoded_length(length)
        assert cobs.decode(encoded) == data


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x00", b"\x03\x11", b"\x02\x00", b"\x05\x11\x22\x00\x44", b"\xff" + bytes(10)],
    ids=["empty", "zero-code", "truncated-block", "zero-in-block", "zero-inside", "short-ff"],
)
def test_malformed_frames_raise_decode_error(bad: bytes) -> None:
    with pytest.raises(DecodeError):
        cobs.decode(bad)
