"""Deterministic protocol material produced by the reference: parties, handshakes, records.

Seed corpora, Hypothesis strategies and stateful tests all need *valid*
messages to start from, and they must be the reference's own output so that a
fuzzer starts deep inside each parser. Everything here is derived from fixed
seeds (``ShakeRng``), built lazily and cached, so importing this module costs
nothing and two runs produce byte-identical corpora.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pqiot.reference import cbor
from pqiot.reference.audit import AuditLog, MemorySink
from pqiot.reference.cbor import CborValue
from pqiot.reference.credentials import CLAIM_CNF, CLAIM_SUBJECT, CNF_COSE_KEY
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc import (
    HandshakeConfig,
    Initiator,
    PskEntry,
    Responder,
    State,
    StaticPskStore,
)
from pqiot.reference.identity import Identity, generate_identity
from pqiot.reference.keystore import KeyStore
from pqiot.reference.records.layer import RecordLayer
from pqiot.reference.records.persistence import MemorySequenceStore
from pqiot.reference.records.record import ContentType
from pqiot.reference.session import Session
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.suites import DEFAULT_SUITE, METHOD_PSK, METHOD_SIGNATURE
from pqiot.reference.suites import get as get_suite

__all__ = [
    "PUBSUB_TOPIC",
    "Capture",
    "Parties",
    "capture",
    "handshake_pair",
    "parties",
    "psk_entry",
    "record_layers",
    "session_pair",
]

#: The topic the pub/sub harnesses verify on (a valid MQTT topic name, spec §12.3.1).
PUBSUB_TOPIC = "plant1/pqiot/v1/ps/line4/temperature"
#: The same time for every verification, so timestamps in seeds are never stale.
PUBSUB_NOW = 1_700_000_000.0


@dataclass(frozen=True)
class Parties:
    initiator: Identity
    responder: Identity


@functools.cache
def parties() -> Parties:
    """Two ML-DSA-44 identities (the MTI suite's signature algorithm)."""
    return Parties(
        generate_identity("ML-DSA-44", subject="fuzz-initiator", rng=ShakeRng(b"fuzz-alice")),
        generate_identity("ML-DSA-44", subject="fuzz-responder", rng=ShakeRng(b"fuzz-bob")),
    )


def _symmetric_ccs(subject: str, kid: bytes, key: bytes) -> bytes:
    cose_key: dict[CborValue, CborValue] = {1: 4, 2: kid, -1: key}
    return cbor.encode({CLAIM_SUBJECT: subject, CLAIM_CNF: {CNF_COSE_KEY: cose_key}})


@functools.cache
def psk_entry() -> PskEntry:
    """An external PSK with its two symmetric-key CCSs (REQ-PSK-002)."""
    psk = bytes(range(32))
    kid = b"\x0f\x10"
    return PskEntry(
        {4: kid},
        psk,
        _symmetric_ccs("fuzz-psk-initiator", kid, psk),
        _symmetric_ccs("fuzz-psk-responder", kid, psk),
    )


def _config(
    role: str,
    method: int,
    message_4: bool,
    by_value: bool,
    seed: bytes,
    tofu: bool,
    trace: dict[str, bytes] | None,
) -> HandshakeConfig:
    rng = ShakeRng(seed)
    if method == METHOD_PSK:
        return HandshakeConfig(
            role=role,  # type: ignore[arg-type]
            method=method,
            suites=(DEFAULT_SUITE,),
            psk=psk_entry() if role == "initiator" else None,
            psk_store=StaticPskStore([psk_entry()]) if role == "responder" else None,
            rng=rng,
            trace=trace,
        )
    me, peer = (
        (parties().initiator, parties().responder)
        if role == "initiator"
        else (parties().responder, parties().initiator)
    )
    provider = SoftwareSecurityProvider()
    store = KeyStore(tofu=tofu)
    if not by_value or not tofu:
        store.add(peer.credential)
    return HandshakeConfig(
        role=role,  # type: ignore[arg-type]
        method=method,
        suites=(DEFAULT_SUITE,),
        credential=me.credential,
        key=me.install(provider),
        provider=provider,
        resolver=store,
        rng=rng,
        send_credential_by_value=by_value,
        message_4=message_4,
        trace=trace,
    )


def handshake_pair(
    method: int = METHOD_SIGNATURE,
    *,
    message_4: bool = True,
    by_value: bool = False,
    tofu: bool = False,
    seed: bytes = b"fuzz",
    trace: dict[str, bytes] | None = None,
) -> tuple[Initiator, Responder]:
    """A fresh, deterministic Initiator/Responder pair; same arguments, same messages.

    ``trace`` (shared by both sides) receives every intermediate value by name.
    """
    args = (method, message_4, by_value)
    return (
        Initiator(_config("initiator", *args, seed + b"-i", tofu, trace)),
        Responder(_config("responder", *args, seed + b"-r", tofu, trace)),
    )


@dataclass(frozen=True)
class Capture:
    """The messages of one successful handshake, in order, and the trace of each side."""

    messages: tuple[bytes, ...]  # message_1, message_2, message_3[, message_4]
    trace: dict[str, bytes]


@functools.cache
def capture(
    method: int = METHOD_SIGNATURE,
    by_value: bool = False,
    message_4: bool = True,
    seed: bytes = b"fuzz",
) -> Capture:
    """Run one handshake in memory and keep every message and intermediate value.

    With the default ``seed`` the ephemeral keys are those of :func:`handshake_pair`'s
    default pair, so the captured message_1/message_2 fit a fresh pair (signatures are
    randomized, so later messages of a signature run differ between runs).
    """
    trace: dict[str, bytes] = {}
    initiator, responder = handshake_pair(
        method, message_4=message_4, by_value=by_value, tofu=by_value, seed=seed, trace=trace
    )
    messages: list[bytes] = []
    initiator.start(0.0)
    for _ in range(4):
        for message in initiator.data_to_send():
            messages.append(message)
            responder.receive(message, 0.0)
        for message in responder.data_to_send():
            messages.append(message)
            initiator.receive(message, 0.0)
    if initiator.state is not State.COMPLETED or responder.state is not State.COMPLETED:
        raise RuntimeError(f"reference handshake did not complete: {initiator.state}")
    return Capture(tuple(messages), trace)


def record_layers(seed: bytes = b"fuzz-records") -> tuple[RecordLayer, RecordLayer]:
    """A sender/receiver record-layer pair of suite -102 over TCP (binding context ``h''``).

    Built directly from a fixed master secret: cheap enough to create per fuzz input.
    """
    suite = get_suite(DEFAULT_SUITE)
    secret = ShakeRng(seed)(suite.application_aead().key_size)
    salt = ShakeRng(seed + b"-salt")(8)

    def layer(sender: bytes, recipient: bytes) -> RecordLayer:
        return RecordLayer(
            aead=suite.application_aead(),
            hkdf=suite.application_hash(),
            master_secret=secret,
            master_salt=salt,
            sender_id=sender,
            recipient_id=recipient,
            store=MemorySequenceStore(),
        )

    return layer(b"\x01", b"\x02"), layer(b"\x02", b"\x01")


@functools.cache
def valid_records() -> tuple[bytes, ...]:
    """Records of every content type, protected by the sender of :func:`record_layers`."""
    sender, _ = record_layers()
    return (
        sender.protect(ContentType.APPLICATION_DATA, b"temperature=21.5C"),
        sender.protect(ContentType.APPLICATION_DATA, b""),
        sender.protect(ContentType.APPLICATION_DATA, bytes(300)),
        sender.close(None),
    )


def session_pair(seed: bytes = b"fuzz-session") -> tuple[Session, Session]:
    """Two established Sessions (method 0, suite -102) after a full in-memory handshake."""
    initiator, responder = handshake_pair(seed=seed)
    sink = MemorySink()
    left = Session(initiator, audit=AuditLog(sink, clock=None), rng=ShakeRng(seed + b"-si"))
    right = Session(responder, audit=AuditLog(sink, clock=None), rng=ShakeRng(seed + b"-sr"))
    left.start(0.0)
    right.start(0.0)
    shuttle(left, right)
    return left, right


def shuttle(left: Session, right: Session, now: float = 0.0, rounds: int = 8) -> None:
    """Deliver queued payloads both ways until neither side has anything to send."""
    for _ in range(rounds):
        moved = False
        for payload in left.data_to_send():
            right.receive(payload, now)
            moved = True
        for payload in right.data_to_send():
            left.receive(payload, now)
            moved = True
        if not moved:
            return
