"""Parser throughput of the reference: CBOR, EDHOC messages, records, COBS and serial frames.

Each benchmark records the bytes it parses per call in ``extra_info["bytes"]`` so
throughput (bytes / mean time) can be derived from the saved JSON. Inputs are real
protocol bytes where possible (messages of one in-process handshake of the default
suite), and every benchmark checks what it parsed so a broken parser cannot look fast.
"""

from __future__ import annotations

from typing import Any

import pytest

from pqiot.reference import cbor, suites
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.messages import decode_message_1, decode_message_2
from pqiot.reference.framing import cobs
from pqiot.reference.framing.serial_frames import (
    CHANNEL_PROTOCOL,
    SerialReceiver,
    encode_message,
)
from pqiot.reference.records.record import decode_record, encode_record
from pqiot.reference.session import KIND_HANDSHAKE

from .test_bench_reference import MLDSA44, _pair

KEM768_EK = 1184


@pytest.fixture(scope="module")
def handshake_messages(identities: dict[int, tuple[Any, Any]]) -> list[bytes]:
    """message_1, message_2, message_3 of one default-suite handshake, in order."""
    initiator, responder = _pair(suites.DEFAULT_SUITE, identities[MLDSA44])
    initiator.start(0.0)
    messages: list[bytes] = []
    for _ in range(4):
        for payload in initiator.data_to_send():
            if payload[0] == KIND_HANDSHAKE:
                messages.append(payload[1:])
            responder.receive(payload, 0.0)
        for payload in responder.data_to_send():
            if payload[0] == KIND_HANDSHAKE:
                messages.append(payload[1:])
            initiator.receive(payload, 0.0)
    assert len(messages) >= 3
    return messages


def test_cbor_decode_tap_like_map(benchmark: Any) -> None:
    """A TAP-sized map of byte strings and integers (the shape every TAP response has)."""
    rng = ShakeRng(b"cbor")
    value: cbor.CborValue = [1, 7, {f"k{i}": rng(64) if i % 2 else i * 1000 for i in range(64)}]
    data = cbor.encode(value)
    benchmark.extra_info["bytes"] = len(data)
    assert benchmark(cbor.decode, data) == value


def test_edhoc_message_1_decode(benchmark: Any, handshake_messages: list[bytes]) -> None:
    message = handshake_messages[0]
    benchmark.extra_info["bytes"] = len(message)
    decoded = benchmark(decode_message_1, message)
    assert len(decoded.g_x) == KEM768_EK


def test_edhoc_message_2_decode(benchmark: Any, handshake_messages: list[bytes]) -> None:
    message = handshake_messages[1]
    benchmark.extra_info["bytes"] = len(message)
    g_y_length = 1088  # ML-KEM-768 ciphertext carried as G_Y
    g_y, ciphertext_2 = benchmark(decode_message_2, message, g_y_length)
    assert len(g_y) == g_y_length and ciphertext_2


@pytest.mark.parametrize("size", [64, 1024, 16 * 1024 - 64], ids=["64B", "1KiB", "16KiB"])
def test_record_decode(benchmark: Any, size: int) -> None:
    ciphertext = ShakeRng(b"record")(size + 16)
    data = encode_record(b"\x05", b"\x0d", 0, ciphertext)
    benchmark.extra_info["bytes"] = len(data)
    record = benchmark(decode_record, data)
    assert record.ciphertext == ciphertext


@pytest.mark.parametrize("size", [256, 4096])
def test_cobs_decode(benchmark: Any, size: int) -> None:
    payload = ShakeRng(b"cobs")(size)
    encoded = cobs.encode(payload)
    benchmark.extra_info["bytes"] = len(encoded)
    assert benchmark(cobs.decode, encoded) == payload


def test_serial_frames_reassembly(benchmark: Any, handshake_messages: list[bytes]) -> None:
    """message_2 (the largest) as channel-0 frames at MTU 256, fed to a fresh receiver."""
    message = bytes([KIND_HANDSHAKE]) + handshake_messages[1]
    line = encode_message(CHANNEL_PROTOCOL, 1, message)
    benchmark.extra_info["bytes"] = len(line)

    def receive() -> list[tuple[int, bytes]]:
        return SerialReceiver().feed(line, 0.0)

    assert benchmark(receive) == [(CHANNEL_PROTOCOL, message)]
