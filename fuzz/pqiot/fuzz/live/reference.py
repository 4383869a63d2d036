"""The reference side of live fuzzing: the recorded handshake inputs mutate, and sanity checks.

Identities come from the committed protocol vectors (as the conformance suite's
peer does), so nothing is generated per run. The recorded handshake is
deterministic on both sides — the reference initiator draws from a seeded
``ShakeRng``, the device is given ``kem_m``, ``sig_rnd`` and ``c_id`` — so a
saved input replays into the same transcript and the same keys on a fresh device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pqiot.conformance.peer import ReferencePeer, suite_parties
from pqiot.fuzz.live.device import FuzzDevice, SetupFailed
from pqiot.fuzz.live.inputs import Context
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.keystore import KeyStore
from pqiot.reference.session import KIND_HANDSHAKE, KIND_RECORD, Session, SessionState
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.tap.codes import Command

__all__ = ["Recorded", "record_handshake", "sanity_handshake"]

SUITE = -102
_ROUNDS = 6


@dataclass
class Recorded:
    """The recorded context and the reference session that can protect more records in it."""

    context: Context
    session: Session
    sent: int = 0

    def next_record(self) -> bytes:
        """A fresh application record (new PIV) the device's session accepts."""
        self.sent += 1
        self.session.send(b"live fuzz record %d" % self.sent, 0.0)
        records = [p[1:] for p in self.session.data_to_send() if p[:1] == bytes([KIND_RECORD])]
        if len(records) != 1:
            raise RuntimeError(f"the reference produced {len(records)} records for one send")
        return records[0]


def _initiator(seed: int) -> Session:
    parties = suite_parties(SUITE)
    own, peer = parties["initiator"], parties["responder"]
    provider = SoftwareSecurityProvider()
    key = provider.add_signature_key(
        "own", own.credential.algorithm, own.private_key, own.credential.public_key
    )
    store = KeyStore()
    store.add(peer.credential)
    rng = ShakeRng(b"pqiot live fuzz reference %d" % seed)
    config = HandshakeConfig(
        role="initiator",
        method=0,
        suites=[SUITE],
        credential=own.credential,
        key=key,
        provider=provider,
        resolver=store,
        rng=rng,
    )
    session = Session(Initiator(config), rng=ShakeRng(b"pqiot live fuzz session %d" % seed))
    session.start(0.0)
    return session


def _handshake_out(session: Session) -> list[bytes]:
    return [p[1:] for p in session.data_to_send() if p[:1] == bytes([KIND_HANDSHAKE])]


def record_handshake(device: FuzzDevice, seed: int) -> Recorded:
    """Run the deterministic reference handshake with the device (TAP SESSION_START/DELIVER)."""
    rng = ShakeRng(b"pqiot live fuzz device %d" % seed)
    session = _initiator(seed)
    (message_1,) = _handshake_out(session)
    context = Context(SUITE, message_1, b"", b"", rng(32), rng(32), b"\x2a")
    device.provision(SUITE)
    tap_session = device.start_responder(context)
    result = device.ok(Command.SESSION_DELIVER, {"session": tap_session, "msg": message_1})
    out = result.get("out")
    if not isinstance(out, list) or len(out) != 1 or not isinstance(out[0], bytes):
        raise SetupFailed(f"message_1 of the reference handshake was answered with {result!r}")
    message_2 = out[0]
    session.receive(bytes([KIND_HANDSHAKE]) + message_2, 0.0)
    replies = _handshake_out(session)
    if len(replies) != 1 or session.state is not SessionState.ESTABLISHED:
        raise SetupFailed(f"the reference did not accept the device's message_2 ({session.state})")
    message_3 = replies[0]
    result = device.ok(Command.SESSION_DELIVER, {"session": tap_session, "msg": message_3})
    device.close_session(tap_session)
    context = Context(
        SUITE, message_1, message_2, message_3, context.kem_m, context.sig_rnd, context.c_id
    )
    return Recorded(context, session)


def sanity_handshake(device: FuzzDevice) -> None:
    """A fresh -102 handshake with a random reference initiator, then data both ways.

    Provisioned anew first: fuzzed TAP inputs may have reset credentials on purpose,
    and the question here is whether the device still works, not what state it kept.
    """
    parties = suite_parties(SUITE)
    kid = device.provision(SUITE)
    peer = ReferencePeer(
        "initiator", [SUITE], parties["initiator"], [parties["responder"].credential]
    )
    try:
        start = device.ok(
            Command.SESSION_START,
            {
                "role": "responder",
                "method": 0,
                "suites": [SUITE],
                "cred": kid,
                "kem_m": os.urandom(32),
            },
        )
        session = start.get("session")
        if not isinstance(session, int):
            raise SetupFailed(f"SESSION_START answered {start!r}")
        to_device = peer.handshake_out()
        for _ in range(_ROUNDS):
            replies: list[bytes] = []
            for message in to_device:
                out = device.ok(Command.SESSION_DELIVER, {"session": session, "msg": message})
                replies += [m for m in out.get("out", []) or [] if isinstance(m, bytes)]  # type: ignore[union-attr]
            to_device = [reply for m in replies for reply in peer.deliver(m)]
            if not to_device:
                break
        if not peer.established:
            raise SetupFailed("the sanity handshake did not establish the reference side")
        probe = os.urandom(16)
        record = peer.protect(probe)
        received = device.ok(Command.APP_RECEIVE, {"session": session, "record": record})
        if received.get("data") != probe:
            raise SetupFailed(f"the device received {received.get('data')!r}, sent {probe!r}")
        sent = device.ok(Command.APP_SEND, {"session": session, "data": probe})
        records = sent.get("out")
        if not isinstance(records, list) or len(records) != 1 or not isinstance(records[0], bytes):
            raise SetupFailed(f"APP_SEND answered {sent!r}")
        data = [getattr(e, "data", None) for e in peer.unprotect(records[0])]
        if probe not in data:
            raise SetupFailed("the reference did not accept the device's application record")
        device.close_session(session)
    finally:
        peer.close()
