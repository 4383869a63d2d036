"""Message codecs: RFC 9528 encodings, strict decoding, and "decoders raise only DecodeError"."""

from __future__ import annotations

import contextlib
import random

import pytest

from pqiot.reference import cbor
from pqiot.reference.edhoc import messages, wire
from pqiot.reference.edhoc.messages import (
    MAX_MESSAGE_SIZE,
    Message1,
    MessageTooLarge,
    decode_error_message,
    decode_message_1,
    encode_error_message,
    encode_message_1,
)
from pqiot.reference.errors import Alert, DecodeError

from .conftest import hx, load_trace

TRACE_2 = load_trace("rfc9529_trace2.json")


def test_message_1_round_trip_against_rfc9529() -> None:
    """RFC 9529 §3: message_1 (second time) = (3, [6, 2], G_X, -24)."""
    data = hx(TRACE_2["messages"]["message_1"])
    message = decode_message_1(data)
    assert message == Message1(3, (6, 2), hx(TRACE_2["inputs"]["g_x"]), b"\x37")
    assert encode_message_1(message) == data


@pytest.mark.parametrize(
    "raw, encoded",
    [
        (b"\x37", "37"),
        (b"\x0e", "0e"),
        (b"\x2d", "2d"),
        (b"\x18", "4118"),
        (b"", "40"),
        (b"\x01\x02", "420102"),
    ],
)
def test_connection_identifiers(raw: bytes, encoded: str) -> None:
    """RFC 9528 §3.3.2: one-byte ids that are CBOR ints in -24..23 travel as ints, others as bstr."""
    assert wire.encode_connection_id(raw) == bytes.fromhex(encoded)
    assert wire.decode_connection_id(cbor.decode(bytes.fromhex(encoded)), "C_I") == raw


@pytest.mark.parametrize("encoded", ["4137", "1818", "3818", "f5", "6131"])
def test_non_canonical_or_out_of_range_connection_identifiers(encoded: str) -> None:
    with pytest.raises(DecodeError):
        wire.decode_connection_id(cbor.decode(bytes.fromhex(encoded)), "C_I")


def test_compact_id_cred() -> None:
    """RFC 9528 §3.5.3.2 with RFC 9529's examples: {4: h'32'} -> 0x32, {4: h'2b'} -> 0x2b; x5t stays a map."""
    assert wire.encode_id_cred_compact({4: b"\x32"}) == b"\x32"
    assert wire.encode_id_cred_compact({4: b"\x18"}) == b"\x41\x18"
    x5t: wire.IdCred = {34: [-15, hx("79f2a41b510c1f9b")]}
    assert wire.encode_id_cred_compact(x5t) == hx("a11822822e4879f2a41b510c1f9b")
    assert wire.decode_id_cred(-19, "ID_CRED_R") == {4: b"\x32"}
    assert wire.decode_id_cred(b"\x18", "ID_CRED_R") == {4: b"\x18"}


def test_error_messages_are_strict() -> None:
    assert decode_error_message(encode_error_message(2, [-102, -103])).suites_r == (-102, -103)
    assert decode_error_message(hx("0202")).suites_r == (2,)
    assert decode_error_message(hx("03f5")).err_info is True
    for bad in ("0101", "02f5", "0301", "02820203ff", "01"):
        with pytest.raises(DecodeError):
            decode_error_message(hx(bad))


def test_size_limit_uses_message_too_large() -> None:
    """D3: more than 16384 bytes is message_too_large (a DecodeError subclass, so decoders raise one type)."""
    with pytest.raises(MessageTooLarge) as info:
        decode_message_1(b"\x00" * (MAX_MESSAGE_SIZE + 1))
    assert info.value.alert is Alert.MESSAGE_TOO_LARGE and isinstance(info.value, DecodeError)
    with pytest.raises(MessageTooLarge):
        messages.decode_single_bstr(cbor.encode(b"\x00" * MAX_MESSAGE_SIZE), "CIPHERTEXT_3")


DECODERS = [
    decode_message_1,
    lambda d: messages.decode_message_2(d, 32),
    lambda d: messages.decode_single_bstr(d, "message_3"),
    messages.decode_plaintext_2,
    messages.decode_plaintext_2a,
    messages.decode_plaintext_3,
    messages.decode_plaintext_3a,
    messages.decode_plaintext_4,
    decode_error_message,
]


def test_decoders_raise_only_decode_error_on_mutated_input() -> None:
    """REQ D1: any byte string either decodes or raises DecodeError — never anything else."""
    rng = random.Random(9529)
    seeds = [hx(TRACE_2["messages"][f"message_{n}"]) for n in (1, 2, 3, 4)]
    seeds += [hx(TRACE_2["intermediates"][n]) for n in ("PLAINTEXT_2", "PLAINTEXT_3")]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(3)
            if op == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 1 and data:
                del data[rng.randrange(len(data)) :]
            else:
                data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
        for decode in DECODERS:
            with contextlib.suppress(DecodeError):
                decode(bytes(data))
