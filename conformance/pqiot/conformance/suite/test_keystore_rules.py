"""KeyStore capacity (spec §4.4, REQ-KS-007), shown by using what was loaded.

A CRED_LOAD that answers ``ok`` proves little; the test loads everything
first and then completes a handshake with every own credential and every
peer credential, so each one must really be held at the same time.

PSK and group-key capacity are checked only by devices that declare method 4
or pub/sub encryption; no target declares them yet, so that part is left to
the tests of those features (see the report).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from pqiot.conformance.conversation import HandshakeRun, other_role, start_session
from pqiot.conformance.device import Device
from pqiot.conformance.peer import Party, ReferencePeer, suite_parties
from pqiot.hil.client import StatusError
from pqiot.reference.credentials import Credential, akp_ccs
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.identity import generate_identity

#: Suites tried for each signature algorithm, cheapest handshake first.
_SUITE_ORDER = (-102, -101, -105, -106, -103, -107, -104, -108, -109, -110)
MIN_PEERS = 8
_ROUNDS = 8


@cache
def _filler_peer(index: int) -> Party:
    """An extra ML-DSA-44 peer identity (cheap to generate, deterministic)."""
    identity = generate_identity(
        -48,
        subject=f"ks007-extra-{index}.conformance.pqiot",
        kid=bytes([0x70 + index]),
        rng=ShakeRng(b"pqiot conformance ks007 %d" % index),
    )
    return Party(identity.credential, identity.private_key)


def _rewrap(party: Party, subject: str, kid: bytes) -> Party:
    """The same key pair under a kid of its own, so credentials of all algorithms can coexist."""
    credential = party.credential
    return Party(
        akp_ccs(subject, kid, credential.algorithm, credential.public_key), party.private_key
    )


def _handshake(
    device: Device, suite: int, role: str, own: tuple[bytes, Credential], tester: Party
) -> None:
    """One handshake between the device (own credential kid) and ``tester``, then one record."""
    kid, credential = own
    peer = ReferencePeer(other_role(role), [suite], tester, [credential])
    session, out = start_session(device, role, [suite], cred=kid)
    run = HandshakeRun(device, session, peer, suite, role)
    to_device = peer.handshake_out()
    for _ in range(_ROUNDS):
        for message in out:
            to_device += peer.deliver(message)
        out = []
        for message in to_device:
            replies, _ = device.client.session_deliver(session, message)
            out += replies
        to_device = []
        if not out:
            break
    assert device.client.session_info(session).get("state") == "DONE", (
        f"suite {suite}: no handshake with peer kid {tester.credential.kid!r}"
    )
    assert run.to_device(b"held") == b"held"
    device.client.session_close(session)
    peer.close()


@pytest.mark.requirement("REQ-KS-007")
def test_keystore_holds_an_own_credential_per_algorithm_and_eight_peers(
    device: Device, evidence: dict[str, Any]
) -> None:
    role = "responder" if "responder" in device.statement.roles else "initiator"
    by_alg: dict[int, int] = {}
    for suite in _SUITE_ORDER:
        if suite in device.statement.suites:
            by_alg.setdefault(suite_parties(suite)[role].credential.algorithm, suite)
    device.client.reset("all")
    own: dict[int, tuple[bytes, Credential]] = {}
    peers: list[tuple[int, Party]] = []
    for index, (alg, suite) in enumerate(sorted(by_alg.items())):
        parties = suite_parties(suite)
        mine = _rewrap(parties[role], f"ks007-own-{index}.conformance.pqiot", bytes([0x50 + index]))
        try:
            kid = device.client.cred_load("own", ccs=mine.credential.cred, sk=mine.private_key)
        except StatusError as exc:
            raise AssertionError(
                f"the KeyStore refused an own credential for algorithm {alg} next to "
                f"{len(own)} other(s) (status {exc.status}: {exc.result.get('error')!r})"
            ) from None
        own[alg] = (kid, mine.credential)
        tester = _rewrap(
            parties[other_role(role)],
            f"ks007-peer-{index}.conformance.pqiot",
            bytes([0x60 + index]),
        )
        peers.append((suite, tester))
    extra = 0
    while len(peers) < MIN_PEERS:
        peers.append((by_alg[-48], _filler_peer(extra)))
        extra += 1
    for number, (_, tester) in enumerate(peers, start=1):
        try:
            device.client.cred_load("peer", ccs=tester.credential.cred)
        except StatusError as exc:
            raise AssertionError(
                f"the KeyStore refused peer credential #{number} (status {exc.status}: "
                f"{exc.result.get('error')!r}); it must hold at least {MIN_PEERS} peers "
                f"besides {len(own)} own credential(s)"
            ) from None
    evidence.update(own_algorithms=sorted(own), peers=len(peers))
    for suite, tester in peers:
        _handshake(device, suite, role, own[tester.credential.algorithm], tester)
