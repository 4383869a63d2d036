"""One-input functions and seeds of the harnesses outside the protocol core.

Three parsers read attacker- or user-controlled input but live outside
``pqiot.reference``'s message codecs: the Test Agent Protocol request parser
every agent runs first (spec §13.2), the target-file loader a farm operator
edits by hand (``targets/*.toml``), and the MQTT binding's envelope checks —
topic name, then the handshake/record payload prefixes of §12.3.2 — which
decide what reaches a Session. They are registered in
:mod:`pqiot.fuzz.harnesses` like the others.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pqiot.fuzz import material
from pqiot.fuzz.contract import ContractViolation
from pqiot.fuzz.seeds import join_payloads, split_payloads
from pqiot.hil.target_schema import TargetError, load_description
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.edhoc import Responder
from pqiot.reference.edhoc.wire import encode_connection_id
from pqiot.reference.session import Session
from pqiot.reference.tap.agent import AgentLimits
from pqiot.reference.tap.codes import Status
from pqiot.reference.tap.messages import (
    RequestRejected,
    decode_request,
    encode_request,
)
from pqiot.transports.mqtt import MqttResponder
from pqiot.transports.mqtt_client import Incoming
from pqiot.transports.mqtt_topics import TopicError, Topics, check_topic_name

__all__ = [
    "MQTT_PREFIX",
    "mqtt_envelope_one_input",
    "mqtt_envelope_seeds",
    "tap_request_one_input",
    "tap_request_seeds",
    "target_file_one_input",
    "target_file_seeds",
]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


# -- Test Agent Protocol requests (spec §13.2, REQ-TAP-003/006) --------------------------

_TAP_LIMIT = AgentLimits().max_tap_request


def tap_request_one_input(data: bytes) -> None:
    """REQ-TAP-003/006: a request parses, or is refused with status 2/4 and no other error.

    A parsed request re-encodes to the input (TAP is deterministic CBOR); a refusal
    names MALFORMED or TOO_LARGE and a request_id only when one could be read.
    """
    try:
        request = decode_request(data, _TAP_LIMIT)
    except RequestRejected as exc:
        _require(exc.status in (Status.MALFORMED, Status.TOO_LARGE), f"refused with {exc.status}")
        _require(
            exc.request_id is None or exc.request_id >= 0, "refusal with a negative request_id"
        )
        return
    _require(len(data) <= _TAP_LIMIT, "a request above max_tap_request was parsed")
    _require(
        encode_request(request.command, request.request_id, request.args) == data,
        "a parsed TAP request does not re-encode to the input",
    )


def tap_request_seeds() -> Iterable[bytes]:
    """Real requests of every command group (§13.3), with the reference handshake's messages."""
    messages = material.capture().messages
    record = material.valid_records()[0]
    parties = material.parties()
    yield encode_request(0, 1, {})
    yield encode_request(1, 2, {"scope": "sessions"})
    yield encode_request(2, 3, {"data": b"\x00\x01\xfe\xff"})
    yield encode_request(16, 4, {"set": 768, "d": bytes(32), "z": bytes(32)})
    yield encode_request(33, 5, {"alg": -48, "sk": b"\x01" * 64, "msg": b"m", "rnd": bytes(32)})
    aead: dict[str, CborValue] = {"alg": 3, "key": bytes(32), "nonce": bytes(12), "aad": b""}
    yield encode_request(48, 6, {**aead, "pt": b"x"})
    hkdf: dict[str, CborValue] = {"hash": -16, "mode": "expand", "prk": bytes(32), "info": b""}
    yield encode_request(56, 7, {**hkdf, "len": 42})
    yield encode_request(58, 8, {"alg": "shake128", "data": b"abc", "len": 64})
    yield encode_request(80, 9, {"slot": "peer", "ccs": parties.initiator.credential.cred})
    start: dict[str, CborValue] = {"role": "responder", "method": 0, "suites": [-102]}
    yield encode_request(81, 10, {**start, "cred": b"\x01", "kem_m": bytes(32)})
    yield encode_request(82, 11, {"session": 0, "msg": messages[0]})
    yield encode_request(84, 12, {"session": 0, "record": record})
    yield encode_request(91, 13, {"topic": material.PUBSUB_TOPIC, "msg": b"\x84", "now_ms": 1})
    yield cbor.encode([2, 14, {"data": b"x", "extra": [1, {"a": None}]}])


# -- target descriptions (targets/*.toml, hil.target_schema) ------------------------------


def target_file_one_input(data: bytes) -> None:
    """A target file loads, or the loader raises TargetError naming the problem; nothing else.

    The file is written under the name its own ``name =`` would need, so valid seeds
    get past the file-name check and reach the rest of the validation.
    """
    from pqiot.fuzz.harnesses import write_scratch  # the registry imports this module

    path = write_scratch("fuzz-target.toml", data)
    try:
        description = load_description(path)
    except TargetError:
        return
    _require(description.name == path.stem, "a description loaded under another file name")
    description.to_json()  # every loaded description must be reportable (`pqiot targets`)


def _checkout_targets() -> Path:
    return Path(__file__).resolve().parents[3] / "targets"


def target_file_seeds() -> Iterable[bytes]:
    """The checked-in target files, renamed to the scratch file name the harness uses."""
    folder = _checkout_targets()
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        text = path.read_text(encoding="utf-8")
        text = text.replace(f'name = "{path.stem}"', 'name = "fuzz-target"', 1)
        # A declarations file is resolved next to the target file; the scratch folder has none.
        lines = [line for line in text.splitlines() if not line.startswith("declarations")]
        yield ("\n".join(lines) + "\n").encode()
    yield (
        b'schema = 1\nname = "fuzz-target"\nkind = "host"\n[transport]\n'
        b'url = "tcp://127.0.0.1:{port}"\n[launch]\ncommand = ["{python}", "-c", "0"]\n'
        b"[conformance]\ncommands = [0, 1, 2]\n"
    )


# -- MQTT binding envelope (spec §12.3, REQ-MQTT-001..009) --------------------------------

MQTT_PREFIX = "plant1"
_ME = "dev1"


class _Connection:
    """What MqttResponder reads of its connection when it classifies a message: the version."""

    def __init__(self, version: int) -> None:
        self.version = version


def _responder_session(cid: bytes) -> Session:
    _, responder = material.handshake_pair()
    return Session(Responder(replace(responder.config, connection_id=cid)))


@functools.cache
def _topics() -> Topics:
    return Topics(MQTT_PREFIX)


def mqtt_envelope_one_input(data: bytes) -> None:
    """REQ-MQTT-001..009: any received PUBLISH is accepted into a session or dropped with an
    alert (BindingDropped); topic checks raise TopicError only; nothing else escapes.

    Input: up to three PUBLISHes to one responder, each five payloads of
    :func:`~pqiot.fuzz.seeds.join_payloads`: ``flags, topic, payload, response_topic,
    correlation``. Flags bit 0 = MQTT 5 (else 3.1.1; the first PUBLISH decides),
    bit 1 = Response Topic present, bit 2 = Correlation Data present.
    """
    parts = split_payloads(data)
    first = parts[0][:1] if parts else b""
    version = 5 if first and first[0] & 1 else 4
    responder = MqttResponder(
        _Connection(version),  # type: ignore[arg-type]
        _topics(),
        _ME,
        _responder_session,
        clock=lambda: 0.0,
    )
    for index in range(0, len(parts), 5):
        _one_publish(responder, [*parts[index : index + 5], b"", b"", b"", b""][:5])


def _one_publish(responder: Any, parts: list[bytes]) -> None:
    flags, raw_topic, payload, response, correlation = parts
    flag = flags[0] if flags else 0
    try:
        topic = check_topic_name(raw_topic)
    except TopicError:
        return
    _require(topic.encode() == raw_topic, "an accepted topic name changed in decoding")
    _require(not any(c in topic for c in "#+\x00"), "an accepted topic name holds a wildcard")
    response_topic = response.decode("utf-8", "replace") if flag & 2 else None
    message = Incoming(topic, payload, response_topic, correlation if flag & 4 else None)
    dropped = len(responder._orphans)
    channel = responder._accept(message)
    if channel is None:
        _require(
            len(responder._orphans) == dropped + 1, "a dropped message must leave a BindingDropped"
        )
    else:
        _require(channel in responder.channels, "an accepted message's channel is not served")


def mqtt_envelope_seeds() -> Iterable[bytes]:
    """Handshake and record PUBLISHes as both MQTT versions send them (§12.3.2)."""
    topics = _topics()
    message_1, message_2, message_3 = material.capture().messages[:3]
    hs, rec = topics.hs(_ME), topics.rec(_ME)
    reply = topics.hsr("sensor7").encode()
    true = cbor.encode(True)
    c_r = encode_connection_id(b"\x01\x00")
    records = material.valid_records()
    v5 = [b"\x07", hs.encode(), true + message_1, reply, b"corr-0001"]
    v3 = [b"\x00", hs.encode(), cbor.encode("sensor7") + message_1, b"", b""]
    yield join_payloads(v5)
    yield join_payloads(v3)
    yield join_payloads([*v5, b"\x05", hs.encode(), c_r + message_3, b"", b"corr-0001"])
    yield join_payloads([*v3, b"\x00", hs.encode(), c_r + message_3, b"", b""])
    yield join_payloads([*v3, b"\x00", hs.encode(), c_r + message_2, b"", b""])
    yield join_payloads([*v5, b"\x01", rec.encode(), records[0], b"", b""])
    yield join_payloads([b"\x00", topics.pubsub("line4/temperature").encode(), b"\x84", b"", b""])
