"""Full method-0 handshakes with the target in each role, against the reference peer.

The DUT runs its protocol code through TAP (SESSION_START / SESSION_DELIVER, §13.5);
the peer is the in-process reference. The DUT's handshake cost is the sum of the
MEASURE figures of its protocol steps (same unit as its primitives, so it can be set
against the sum of the primitives it must run); the end-to-end time is host wall
clock from SESSION_START to the last message, which also contains the TAP link and
the reference peer. Every run uses fixed randomness (``kem_seed`` / ``kem_m``,
``sig_rnd``, ``c_id``, the peer's ShakeRng): run *i* signs the same transcript on every
target and every night, so its rejection-loop count, hence its cost, repeats.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field

from pqiot.bench.samples import OpSamples, proxy_value
from pqiot.bench.wire import wire_bytes
from pqiot.hil.client import AgentClient, Measurement, StatusError
from pqiot.reference import suites
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.identity import Identity, generate_identity
from pqiot.reference.keystore import KeyStore
from pqiot.reference.session import KIND_HANDSHAKE, KIND_RECORD, Session, SessionState
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.tap.codes import Status

__all__ = ["HandshakeResult", "measure_handshakes", "suite_primitives"]

ROLES = ("initiator", "responder")
RECORD_SIZES = (64, 1024)


@dataclass
class HandshakeResult:
    samples: list[OpSamples] = field(default_factory=list)
    #: suite -> binding -> bytes of one handshake (both directions)
    wire: dict[int, dict[str, int]] = field(default_factory=dict)
    #: suite -> sizes of the EDHOC messages in order
    messages: dict[int, list[int]] = field(default_factory=dict)
    #: what was not measured or measured differently, and why
    notes: list[str] = field(default_factory=list)


def suite_primitives(suite_id: int) -> dict[str, str]:
    """TAP primitive names a suite uses: {"kem", "sig", "aead"} (those the name reveals)."""
    name = suites.get(suite_id).name
    found: dict[str, str] = {}
    if kem := re.search(r"MLKEM(\d+)", name):
        found["kem"] = f"ml-kem-{kem.group(1)}"
    if sig := re.search(r"MLDSA(\d+)", name):
        found["sig"] = f"ml-dsa-{sig.group(1)}"
    elif sig := re.search(r"FALCON(\d+)", name):
        found["sig"] = f"falcon-{sig.group(1)}"
    for token, aead in (
        ("A256GCM", "a256gcm"),
        ("CCM8", "aes-ccm-16-64-128"),
        ("CHACHAPOLY", "chacha20-poly1305"),
    ):
        if token in name:
            found["aead"] = aead
    return found


def _seed(label: str, size: int) -> bytes:
    return hashlib.shake_128(f"pqiot-bench/hs/{label}".encode()).digest(size)


def _identities(alg: int) -> tuple[Identity, Identity]:
    device = generate_identity(
        alg, subject="bench-device", kid=b"\x0d", rng=ShakeRng(b"bench-device")
    )
    host = generate_identity(alg, subject="bench-host", kid=b"\x0b", rng=ShakeRng(b"bench-host"))
    return device, host


def _peer(role: str, own: Identity, other: Identity, suite_id: int, seed: bytes) -> Session:
    # fixed signing randomness too: the peer's signature is in the DUT's transcript
    provider = SoftwareSecurityProvider(rng=ShakeRng(seed + b"/sign"))
    store = KeyStore()
    store.add(other.credential)
    config = HandshakeConfig(
        role=role,  # type: ignore[arg-type]
        method=0,
        suites=(suite_id,),
        credential=own.credential,
        key=own.install(provider),
        provider=provider,
        resolver=store,
        rng=ShakeRng(seed),
    )
    return Session(Initiator(config) if role == "initiator" else Responder(config))


class _Run:
    """One handshake: the DUT in ``role``, collecting steps, messages and timings."""

    def __init__(self, client: AgentClient, peer: Session) -> None:
        self.client = client
        self.peer = peer
        self.steps: list[tuple[str, Measurement]] = []
        self.messages: list[bytes] = []
        self.now = 0.0

    def to_peer(self, messages: list[bytes]) -> list[bytes]:
        for message in messages:
            self.messages.append(message)
            self.now += 0.001
            self.peer.receive(bytes([KIND_HANDSHAKE]) + message, self.now)
        return self.from_peer()

    def from_peer(self) -> list[bytes]:
        replies = [p[1:] for p in self.peer.data_to_send() if p[0] == KIND_HANDSHAKE]
        self.messages.extend(replies)
        return replies

    def step(self, label: str) -> None:
        self.steps.append((label, self.client.measure()))


def _one(
    client: AgentClient,
    suite_id: int,
    role: str,
    run: int,
    identities: tuple[Identity, Identity],
    notes: list[str],
) -> tuple[_Run, int, int]:
    device, host = identities
    client.reset("all")
    client.cred_load("own", ccs=device.credential.cred, sk=device.private_key)
    client.cred_load("peer", ccs=host.credential.cred)
    peer_role = "responder" if role == "initiator" else "initiator"
    peer = _peer(peer_role, host, device, suite_id, _seed(f"{suite_id}/{role}/{run}/peer", 32))
    peer.start(0.0)
    h = _Run(client, peer)
    options: dict[str, CborValue] = {
        "cred": device.kid,
        "sig_rnd": _seed(f"{suite_id}/{run}/rnd", 32),
        # a fixed C_x: the transcript, hence what is signed and the rejection loop, repeats
        "c_id": _seed(f"{suite_id}/{role}/{run}/c_id", 3),
    }
    if role == "initiator":
        options["kem_seed"] = _seed(f"{suite_id}/{run}/kem_seed", 64)
    else:
        options["kem_m"] = _seed(f"{suite_id}/{run}/kem_m", 32)
    if suite_id == -107:
        options["x25519_eph"] = _seed(f"{suite_id}/{run}/x25519", 32)
    start = time.perf_counter_ns()
    try:
        session, out = client.session_start(role, 0, [suite_id], **options)
    except StatusError as exc:
        if exc.status != Status.UNSUPPORTED or "x25519_eph" not in options:
            raise
        # the agent draws the X25519 ephemeral itself: still a valid handshake, less fixed
        del options["x25519_eph"]
        note = f"suite {suite_id}: the DUT does not take x25519_eph; X25519 key from its RNG"
        if note not in notes:
            notes.append(note)
        start = time.perf_counter_ns()
        session, out = client.session_start(role, 0, [suite_id], **options)
    h.step("SESSION_START")
    pending = h.to_peer(out) if out else h.from_peer()
    number = 1 if role == "responder" else 2
    state = ""
    while pending:
        message = pending.pop(0)
        out, state = client.session_deliver(session, message)
        h.step(f"SESSION_DELIVER message_{number}")
        number += 2
        pending.extend(h.to_peer(out))
    elapsed = time.perf_counter_ns() - start
    if peer.state is not SessionState.ESTABLISHED:
        raise RuntimeError(
            f"suite {suite_id}: the reference {peer_role} did not complete the handshake "
            f"with the DUT as {role} (DUT state {state!r}, peer {peer.state.value})"
        )
    return h, session, elapsed


def _records(
    client: AgentClient, h: _Run, session: int, out: dict[str, OpSamples], key: str
) -> None:
    for size in RECORD_SIZES:
        (record,) = client.app_send(session, bytes(size))
        m = client.measure()
        _sample(out, f"{key} record protect {size}B", "record").add(
            proxy_value(m), m.unit, m.stack_bytes, m.cycles_overflow
        )
        h.peer.receive(bytes([KIND_RECORD]) + record, h.now)
        h.peer.send(bytes(size), h.now)
        (incoming,) = [p[1:] for p in h.peer.data_to_send() if p[0] == KIND_RECORD]
        client.app_receive(session, incoming)
        m = client.measure()
        _sample(out, f"{key} record unprotect {size}B", "record").add(
            proxy_value(m), m.unit, m.stack_bytes, m.cycles_overflow
        )


def _sample(out: dict[str, OpSamples], name: str, group: str) -> OpSamples:
    return out.setdefault(name, OpSamples(name, group))


def measure_handshakes(
    client: AgentClient, suite_ids: list[int], *, runs: int, warmup: int
) -> HandshakeResult:
    """``warmup + runs`` handshakes per suite and role; the first ``warmup`` are discarded."""
    result = HandshakeResult()
    out: dict[str, OpSamples] = {}
    for suite_id in suite_ids:
        identities = _identities(suites.get(suite_id).signature_alg)
        try:
            for role in ROLES:
                key = f"handshake {suite_id} {role}"
                for run in range(warmup + runs):
                    h, session, elapsed = _one(
                        client, suite_id, role, run, identities, result.notes
                    )
                    if run < warmup:
                        continue
                    total = sum(proxy_value(m) for _, m in h.steps)
                    stacks = [m.stack_bytes for _, m in h.steps if m.stack_bytes is not None]
                    unit = h.steps[0][1].unit
                    overflow = any(m.cycles_overflow for _, m in h.steps)
                    dut = _sample(out, key, "handshake")
                    dut.suite, dut.role = suite_id, role
                    dut.add(total, unit, max(stacks) if stacks else None, overflow)
                    for label, m in h.steps:
                        step = _sample(out, f"{key} {label}", "handshake-step")
                        step.suite, step.role = suite_id, role
                        step.add(proxy_value(m), m.unit, m.stack_bytes, m.cycles_overflow)
                    e2e = _sample(out, f"{key} end-to-end", "handshake-e2e")
                    e2e.suite, e2e.role = suite_id, role
                    if not e2e.notes:
                        e2e.notes.append("host wall clock: DUT + TAP link + reference peer")
                    e2e.add(elapsed, "wall_clock_ns", None)
                    _records(client, h, session, out, key)
                    result.wire[suite_id] = wire_bytes(h.messages)
                    result.messages[suite_id] = [len(m) for m in h.messages]
        except (StatusError, RuntimeError) as exc:
            result.notes.append(f"suite {suite_id}: not measured: {exc}")
            for name in [n for n, v in out.items() if v.suite == suite_id or f" {suite_id} " in n]:
                del out[name]
            result.wire.pop(suite_id, None)
            result.messages.pop(suite_id, None)
    for sample in out.values():
        if sample.group == "record" and sample.suite is None:
            sample.suite = int(sample.name.split()[1])
    result.samples = list(out.values())
    return result
