"""Negative protocol vectors: truncated and oversize messages and their alerts.

Each record feeds one malformed input to a fresh reference endpoint through
the same path as real traffic (REQ-TAP-020) and records the alert it must
raise. The generator checks the reference's alert against the alert the spec
requires (``SPEC_ALERTS``) before writing, so the file states the spec's
answer, confirmed by the reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from pqiot.reference import cbor
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc import (
    AllowListResolver,
    HandshakeConfig,
    HandshakeFailed,
    Initiator,
    Responder,
    StaticPskStore,
)
from pqiot.reference.errors import ProtocolError
from pqiot.reference.framing.length_prefix import MAX_FRAME, FrameDecoder
from pqiot.reference.pubsub import MAX_MESSAGE_SIZE, MessageVerifier
from pqiot.reference.session import PayloadDropped, Session
from pqiot.vectors.jsonfile import RecordView, VectorFileError, load_vector_file, vector_document
from pqiot.vectors.model import CaseResult, VectorSet, fail, ok
from pqiot.vectors.negative_primitives import _set_coefficient
from pqiot.vectors.protocol_run import psk_entry

__all__ = [
    "NEGATIVE_PROTOCOL_FILE",
    "SET_NAME",
    "generate_negative_protocol",
    "negative_protocol_set",
]

SET_NAME = "negative-protocol"
NEGATIVE_PROTOCOL_FILE = "negative-protocol.json"
SUITE = -102
MAX_HANDSHAKE_MESSAGE = 16384
_PSK = psk_entry(b"\x10", bytes(range(32)))


def _initiator(label: str) -> Initiator:
    return Initiator(
        HandshakeConfig(
            role="initiator", method=4, suites=[SUITE], psk=_PSK, rng=ShakeRng(label.encode())
        )
    )


def _responder(label: str) -> Responder:
    return Responder(
        HandshakeConfig(
            role="responder",
            method=4,
            suites=[SUITE],
            psk_store=StaticPskStore([_PSK]),
            rng=ShakeRng(label.encode()),
        )
    )


INITIATOR_SEED = "pqiot vectors negative initiator"
RESPONDER_SEED = "pqiot vectors negative responder"


def _started_initiator() -> Initiator:
    """The seeded Initiator right after sending message_1 (waiting for message_2)."""
    initiator = _initiator(INITIATOR_SEED)
    initiator.start(now=0.0)
    return initiator


def _responder_after(message_1: bytes) -> Responder:
    """The seeded Responder after answering ``message_1`` (waiting for message_3)."""
    responder = _responder(RESPONDER_SEED)
    responder.receive(message_1, now=0.0)
    responder.data_to_send()
    return responder


def _valid_messages() -> tuple[bytes, bytes, bytes]:
    """message_1..3 of the seeded PSK handshake the negative records are cut from."""
    initiator = _started_initiator()
    message_1 = initiator.data_to_send()[0]
    responder = _responder(RESPONDER_SEED)
    responder.receive(message_1, now=0.0)
    message_2 = responder.data_to_send()[0]
    initiator.receive(message_2, now=0.0)
    return message_1, message_2, initiator.data_to_send()[0]


def _failure(endpoint: Initiator | Responder) -> str:
    while (event := endpoint.next_event()) is not None:
        if isinstance(event, HandshakeFailed):
            return event.alert.value
    return "none"


def _established_sessions() -> tuple[Session, Session]:
    i = Session(
        _initiator("pqiot vectors negative session i"), binding_context=b"\x00", rng=ShakeRng(b"si")
    )
    r = Session(
        _responder("pqiot vectors negative session r"), binding_context=b"\x00", rng=ShakeRng(b"sr")
    )
    i.start(0.0)
    for _ in range(8):
        moved = False
        for a, b in ((i, r), (r, i)):
            for payload in a.data_to_send():
                b.receive(payload, 0.0)
                moved = True
        if not moved:
            break
    while i.next_event() or r.next_event():
        pass
    return i, r


# -- the operations (shared by generator and verifier) ------------------------------------


def _alert_handshake_message_1(message: bytes) -> str:
    responder = _responder(RESPONDER_SEED)
    responder.receive(message, now=0.0)
    return _failure(responder)


def _alert_handshake_message_2(message: bytes) -> str:
    initiator = _started_initiator()
    initiator.data_to_send()
    initiator.receive(message, now=0.0)
    return _failure(initiator)


def _alert_handshake_message_3(message_1: bytes, message: bytes) -> str:
    responder = _responder_after(message_1)
    responder.receive(message, now=0.0)
    return _failure(responder)


def _alert_record(record: bytes) -> str:
    _, responder = _established_sessions()
    responder.receive(bytes([1]) + record, 0.0)
    while (event := responder.next_event()) is not None:
        if isinstance(event, PayloadDropped):
            return event.alert.value
    return "none"


def _alert_pubsub(message: bytes, topic: str) -> str:
    try:
        MessageVerifier(cast(Any, AllowListResolver([]))).verify(message, topic, 0.0)
    except ProtocolError as exc:
        return exc.alert.value
    return "none"


def _alert_tcp(stream: bytes) -> str:
    decoder = FrameDecoder()
    try:
        decoder.feed(stream)
        decoder.check_eof()
    except ProtocolError as exc:
        return exc.alert.value
    return "none"


def _alert(operation: str, inputs: dict[str, Any]) -> str:
    pad_to = inputs.get("zero_pad_to")
    if (
        pad_to is not None
    ):  # oversize inputs are stored as prefix + zero padding to keep files small
        inputs = {
            **inputs,
            "message": inputs["message"] + bytes(max(0, pad_to - len(inputs["message"]))),
        }
    if operation == "handshake_message_1":
        return _alert_handshake_message_1(inputs["message"])
    if operation == "handshake_message_2":
        return _alert_handshake_message_2(inputs["message"])
    if operation == "handshake_message_3":
        return _alert_handshake_message_3(inputs["message_1"], inputs["message"])
    if operation == "record":
        return _alert_record(inputs["record"])
    if operation == "pubsub_message":
        return _alert_pubsub(inputs["message"], inputs["topic"])
    if operation == "tcp_stream":
        return _alert_tcp(inputs["stream"])
    raise ValueError(f"unknown operation {operation!r}")


# -- generation --------------------------------------------------------------------------


def _cases() -> list[tuple[str, list[str], str, dict[str, Any], str, str]]:
    """(id, req, operation, inputs, spec alert, description)."""
    m1, m2, m3 = _valid_messages()
    big = MAX_HANDSHAKE_MESSAGE + 1
    g_x_offset = m1.index(bytes.fromhex("5904a0")) + 3  # bstr head of the 1184-byte ML-KEM-768 G_X
    bad_gx = (
        m1[:g_x_offset]
        + _set_coefficient(m1[g_x_offset : g_x_offset + 1184], 0, 0, 3329)
        + m1[g_x_offset + 1184 :]
    )
    initiator, _ = _established_sessions()
    initiator.send(b"a record that will be truncated", 0.0)
    record = initiator.data_to_send()[0][1:]
    signed = (
        bytes.fromhex("84")
        + cbor.encode(b"\xa2\x01\x27\x04\x41\x2b")
        + bytes.fromhex("a0")
        + cbor.encode(b"payload")
        + cbor.encode(b"\x00" * 64)
    )
    topic = "pqiot/v1/negative"
    return [
        (
            "message_1/truncated-1",
            ["REQ-ENC-007", "REQ-HS-004"],
            "handshake_message_1",
            {"message": m1[:-1]},
            "decode_error",
            "message_1 without its last byte",
        ),
        (
            "message_1/truncated-half",
            ["REQ-ENC-007", "REQ-HS-004"],
            "handshake_message_1",
            {"message": m1[: len(m1) // 2]},
            "decode_error",
            "first half of message_1 (inside G_X)",
        ),
        (
            "message_1/trailing-byte",
            ["REQ-ENC-009", "REQ-HS-004"],
            "handshake_message_1",
            {"message": m1 + b"\x60"},
            "decode_error",
            "message_1 followed by an empty text string (not an EAD item)",
        ),
        (
            "message_1/oversize",
            ["REQ-HS-025"],
            "handshake_message_1",
            {"message": m1, "zero_pad_to": MAX_HANDSHAKE_MESSAGE + 1},
            "message_too_large",
            f"message_1 padded to {MAX_HANDSHAKE_MESSAGE + 1} bytes",
        ),
        (
            "message_1/g_x-coefficient-q",
            ["REQ-SUITE-007"],
            "handshake_message_1",
            {"message": bad_gx},
            "decode_error",
            "G_X with coefficient 0 of polynomial 0 = q (FIPS 203 §7.2)",
        ),
        (
            "message_2/truncated-1",
            ["REQ-ENC-007", "REQ-HS-008"],
            "handshake_message_2",
            {"message": m2[:-1]},
            "decode_error",
            "message_2 without its last byte (to the seeded Initiator after its message_1)",
        ),
        (
            "message_2/truncated-half",
            ["REQ-ENC-007", "REQ-HS-008"],
            "handshake_message_2",
            {"message": m2[: len(m2) // 2]},
            "decode_error",
            "first half of message_2 (inside G_Y_CIPHERTEXT_2)",
        ),
        (
            "message_2/oversize",
            ["REQ-HS-025"],
            "handshake_message_2",
            {"message": m2, "zero_pad_to": big},
            "message_too_large",
            f"message_2 padded to {big} bytes",
        ),
        (
            "message_3/truncated-1",
            ["REQ-ENC-007", "REQ-HS-013"],
            "handshake_message_3",
            {"message_1": m1, "message": m3[:-1]},
            "decode_error",
            "message_3 without its last byte (to the seeded Responder after its message_2)",
        ),
        (
            "message_3/oversize",
            ["REQ-HS-025"],
            "handshake_message_3",
            {"message_1": m1, "message": m3, "zero_pad_to": big},
            "message_too_large",
            f"message_3 padded to {big} bytes",
        ),
        (
            "message_3/tag-bit",
            ["REQ-PSK-006"],
            "handshake_message_3",
            {"message_1": m1, "message": m3[:-1] + bytes([m3[-1] ^ 1])},
            "authentication_failed",
            "message_3 whose CIPHERTEXT_3B tag has a flipped bit: no PSK verifies it",
        ),
        (
            "record/truncated-1",
            ["REQ-REC-002"],
            "record",
            {"record": record[:-1]},
            "decrypt_failed",
            "a protected record without its last tag byte",
        ),
        (
            "record/one-byte",
            ["REQ-REC-002"],
            "record",
            {"record": record[:1]},
            "decode_error",
            "only the option_len byte of a record",
        ),
        (
            "record/option-overrun",
            ["REQ-REC-002"],
            "record",
            {"record": b"\xff" + record[1:]},
            "decode_error",
            "option_len larger than the record",
        ),
        (
            "pubsub/truncated",
            ["REQ-ENC-007"],
            "pubsub_message",
            {"message": signed[:-1], "topic": topic},
            "decode_error",
            "a COSE_Sign1 message without its last byte",
        ),
        (
            "pubsub/oversize",
            ["REQ-PUBSUB-006", "REQ-MQTT-002"],
            "pubsub_message",
            {"message": signed, "zero_pad_to": MAX_MESSAGE_SIZE + 1, "topic": topic},
            "message_too_large",
            f"a pub/sub message of {MAX_MESSAGE_SIZE + 1} bytes",
        ),
        (
            "tcp/zero-length",
            ["REQ-TCP-002"],
            "tcp_stream",
            {"stream": b"\x00\x00\x00\x00"},
            "decode_error",
            "a frame header announcing 0 bytes",
        ),
        (
            "tcp/oversize",
            ["REQ-TCP-002"],
            "tcp_stream",
            {"stream": (MAX_FRAME + 1).to_bytes(4, "big")},
            "message_too_large",
            f"a frame header announcing {MAX_FRAME + 1} bytes",
        ),
        (
            "tcp/truncated",
            ["REQ-TCP-001"],
            "tcp_stream",
            {"stream": (len(m1)).to_bytes(4, "big") + m1[:-1]},
            "decode_error",
            "the stream ends inside a frame",
        ),
    ]


def _hex_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v.hex() if isinstance(v, bytes) else v for k, v in inputs.items()}


def generate_negative_protocol() -> dict[str, Any]:
    records = []
    for rid, req, operation, inputs, spec_alert, description in _cases():
        got = _alert(operation, inputs)
        if got != spec_alert:
            raise AssertionError(
                f"{rid}: the reference raises {got!r}, the spec requires {spec_alert!r}"
            )
        records.append(
            {
                "id": rid,
                "req": req,
                "operation": operation,
                "description": description,
                "inputs": _hex_inputs(inputs),
                "expected": {"outcome": "alert", "alert": spec_alert},
            }
        )
    return vector_document(
        SET_NAME,
        "Truncated and oversize protocol messages with the alert the receiver must raise "
        "(suite -102, PSK method).",
        records,
    )


# -- verification ---------------------------------------------------------------------------


def _check(view: RecordView) -> CaseResult:
    case = (
        str(view.raw.get("id", f"record {view.index}"))
        if isinstance(view.raw, dict)
        else f"record {view.index}"
    )
    try:
        operation = view.text("operation")
        raw = view.sub("inputs")
        inputs: dict[str, Any] = {
            key: raw.text(key)
            if key == "topic"
            else raw.integer(key)
            if key == "zero_pad_to"
            else raw.hex(key)
            for key in raw.field_names()
        }
        alert = view.sub("expected").text("alert")
        got = _alert(operation, inputs)
    except VectorFileError as exc:
        return fail(case, f"bad vector: {exc}")
    except (KeyError, ValueError) as exc:
        return fail(case, f"{view.file}: record {view.index}: bad inputs for the operation: {exc}")
    return ok(case) if got == alert else fail(case, f"expected alert {alert}, got {got}")


def negative_protocol_set(data_dir: Path) -> VectorSet:
    path = data_dir / NEGATIVE_PROTOCOL_FILE

    def count() -> int:
        try:
            return len(load_vector_file(path, SET_NAME).records)
        except VectorFileError:
            return 1

    def check(_agent: Any) -> Iterator[CaseResult]:
        try:
            vector_file = load_vector_file(path, SET_NAME)
        except VectorFileError as exc:
            yield fail(NEGATIVE_PROTOCOL_FILE, str(exc))
            return
        for view in vector_file.views():
            yield _check(view)

    return VectorSet(
        SET_NAME,
        f"data/{NEGATIVE_PROTOCOL_FILE}: generated by the pqiot reference, alerts per spec",
        "truncated / oversize message_1..3, records, pub/sub messages and TCP frames "
        "with their alerts",
        count,
        check,
        reference_only=True,
    )
