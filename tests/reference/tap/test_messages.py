"""tap_request / tap_response encoding (spec §13.2, REQ-TAP-003, REQ-TAP-006)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pqiot.reference import cbor
from pqiot.reference.errors import DecodeError
from pqiot.reference.tap.codes import Command, Status
from pqiot.reference.tap.messages import (
    RequestRejected,
    TapRequest,
    TapResponse,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)

# §13.2 example: ECHO, request_id 1, data 01 02.
ECHO_REQUEST = bytes.fromhex("830201a16464617461420102")
ECHO_RESPONSE = bytes.fromhex("830100a16464617461420102")


def test_echo_example_of_the_spec_encodes_byte_for_byte() -> None:
    assert encode_request(Command.ECHO, 1, {"data": b"\x01\x02"}) == ECHO_REQUEST
    assert encode_response(TapResponse(1, Status.OK, {"data": b"\x01\x02"})) == ECHO_RESPONSE


def test_echo_example_of_the_spec_decodes() -> None:
    assert decode_request(ECHO_REQUEST, 8192) == TapRequest(2, 1, {"data": b"\x01\x02"})
    assert decode_response(ECHO_RESPONSE) == TapResponse(1, 0, {"data": b"\x01\x02"})


@pytest.mark.parametrize(
    ("message", "request_id"),
    [
        (b"\xff", None),  # not CBOR
        (cbor.encode([2, 1]), None),  # two items
        (cbor.encode({"a": 1}), None),  # not an array
        (cbor.encode([2, -1, {}]), None),  # request_id not uint
        (cbor.encode([2, "x", {}]), None),
        (cbor.encode([-2, 7, {}]), 7),  # command not uint: request_id still readable
        (cbor.encode([2, 7, [1]]), 7),  # args not a map
        (cbor.encode([2, 7, {1: 2}]), 7),  # args keys not text
        (cbor.encode([True, 7, {}]), 7),
    ],
)
def test_malformed_requests_get_status_2_with_the_readable_request_id(
    message: bytes, request_id: int | None
) -> None:
    """REQ-TAP-003: status 2; request_id null when it cannot be read."""
    with pytest.raises(RequestRejected) as caught:
        decode_request(message, 8192)
    assert caught.value.status is Status.MALFORMED
    assert caught.value.request_id == request_id


def test_a_request_above_the_limit_is_refused_unparsed() -> None:
    """REQ-TAP-006: status 4, request_id null, even for a well-formed request."""
    message = encode_request(Command.ECHO, 9, {"data": bytes(9000)})
    with pytest.raises(RequestRejected) as caught:
        decode_request(message, 8192)
    assert (caught.value.status, caught.value.request_id) == (Status.TOO_LARGE, None)
    assert decode_request(message, len(message)).request_id == 9


@pytest.mark.parametrize(
    "message",
    [
        cbor.encode([1, 0]),
        cbor.encode([-1, 0, {}]),
        cbor.encode([1, True, {}]),
        cbor.encode([1, 0, []]),
    ],
)
def test_bad_responses_are_decode_errors(message: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_response(message)


def test_response_null_request_id_round_trips() -> None:
    response = TapResponse(None, Status.TOO_LARGE, {"error": "too large"})
    assert decode_response(encode_response(response)) == response


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_decoders_raise_only_decode_error(data: bytes) -> None:
    """Any byte string decodes or raises DecodeError, never anything else."""
    for decoder in (lambda d: decode_request(d, 8192), decode_response):
        with contextlib.suppress(DecodeError):
            decoder(data)
