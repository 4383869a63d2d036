"""Handshake rules of the firmware beyond the happy path: retransmissions (REQ-HS-038), reflection
protection (REQ-CRED-007) and never re-pinning a stored kid (REQ-KS-003/004).

The peer is the Python reference, driven through TAP transport "tap" as in test_handshake.py;
each test runs on every target.
"""

from __future__ import annotations

import dataclasses
import functools

from pqiot.hil.agent_client import Command, Status, TapResponse
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.identity import Identity, generate_identity
from pqiot.reference.session import KIND_HANDSHAKE, KIND_RECORD, Session, SessionState

from .conftest import Agent
from .peer import (
    as_int,
    byte_list,
    device_identity,
    host_identity,
    load_credentials,
    reference_config,
)

KEM_SEED = bytes(range(64))
KEM_M = bytes(range(32, 64))


def _start(agent: Agent, role: str) -> int:
    args = {"kem_seed": KEM_SEED} if role == "initiator" else {"kem_m": KEM_M}
    started = agent.client.session_start(
        role, method=0, suites=[-102], cred=device_identity().kid, **args
    )
    return as_int(started.ok()["session"])


def _handshake_payloads(session: Session) -> list[bytes]:
    return [p[1:] for p in session.data_to_send() if p[0] == KIND_HANDSHAKE]


def _reference(role: str, own: Identity, *, by_value: bool = False) -> Session:
    config = reference_config(role, own, device_identity())
    config = dataclasses.replace(config, send_credential_by_value=by_value)
    session = Session(Initiator(config) if role == "initiator" else Responder(config))
    session.start(0.0)
    return session


def _drive_responder(agent: Agent, peer: Session) -> TapResponse:
    """Firmware as Responder against the reference Initiator ``peer``; the last response."""
    session = _start(agent, "responder")
    (message_1,) = _handshake_payloads(peer)
    response = agent.client.session_deliver(session, message_1)
    if response.status != Status.OK:
        return response
    for message in byte_list(response.result["out"]):
        peer.receive(bytes([KIND_HANDSHAKE]) + message, 0.5)
    (message_3,) = _handshake_payloads(peer)
    return agent.client.session_deliver(session, message_3)


def test_responder_answers_a_repeated_message_1_with_the_same_message_2(agent: Agent) -> None:
    """REQ-HS-038: same message_2 byte for byte, state stays WAIT_M3; a repeated message_3 in
    DONE gets no reply and changes nothing (§5.11 table: "resend message_4 if any")."""
    load_credentials(agent.client, device_identity(), host_identity())
    peer = _reference("initiator", host_identity())
    session = _start(agent, "responder")
    (message_1,) = _handshake_payloads(peer)
    first = agent.client.session_deliver(session, message_1).ok()
    again = agent.client.session_deliver(session, message_1).ok()
    assert again == first and first["state"] == "WAIT_M3"
    (message_2,) = byte_list(first["out"])
    peer.receive(bytes([KIND_HANDSHAKE]) + message_2, 0.5)
    (message_3,) = _handshake_payloads(peer)
    assert agent.client.session_deliver(session, message_3).ok() == {"out": [], "state": "DONE"}
    exported = agent.client.export(session, 0, 32).ok()
    assert agent.client.session_deliver(session, message_3).ok() == {"out": [], "state": "DONE"}
    assert agent.client.export(session, 0, 32).ok() == exported
    # Anything else in DONE reaches the session (spec §13.5) and is dropped: nothing sent,
    # state unchanged.
    assert agent.client.session_deliver(session, message_1).ok() == {"out": [], "state": "DONE"}


def test_initiator_answers_a_repeated_message_2_with_the_same_message_3(agent: Agent) -> None:
    """REQ-HS-038 in DONE: message_3 again, and the record layer is not re-initialised (the
    next record continues the sequence, so the peer accepts it)."""
    load_credentials(agent.client, device_identity(), host_identity())
    agent.client.call(Command.RESET, {"scope": "sessions"})
    peer = _reference("responder", host_identity())
    started = agent.client.session_start(
        "initiator", method=0, suites=[-102], cred=device_identity().kid, kem_seed=KEM_SEED
    ).ok()
    session = as_int(started["session"])
    (message_1,) = byte_list(started["out"])
    peer.receive(bytes([KIND_HANDSHAKE]) + message_1, 0.5)
    (message_2,) = _handshake_payloads(peer)
    first = agent.client.session_deliver(session, message_2).ok()
    assert first["state"] == "DONE"
    (message_3,) = byte_list(first["out"])
    peer.receive(bytes([KIND_HANDSHAKE]) + message_3, 0.5)
    assert peer.state is SessionState.ESTABLISHED
    record = byte_list(
        agent.client.call(Command.APP_SEND, {"session": session, "data": b"one"}).ok()["out"]
    )[0]
    again = agent.client.session_deliver(session, message_2).ok()
    assert again == {"out": [message_3], "state": "DONE"}
    second = byte_list(
        agent.client.call(Command.APP_SEND, {"session": session, "data": b"two"}).ok()["out"]
    )[0]
    for item in (record, second):
        peer.receive(bytes([KIND_RECORD]) + item, 0.6)
    received = []
    while (event := peer.next_event()) is not None:
        if hasattr(event, "data"):
            received.append(event.data)
    assert received == [b"one", b"two"]


@functools.cache
def _twin() -> Identity:
    """Another key under the firmware's own subject: a reflected or cloned identity."""
    return generate_identity(
        "ML-DSA-44", subject="device", kid=b"twin", rng=ShakeRng(b"pqiot firmware twin")
    )


def test_peer_with_the_firmwares_own_subject_is_authentication_failed(agent: Agent) -> None:
    """REQ-CRED-007: a peer credential whose sub equals the own credential's sub aborts.

    The firmware is the Initiator so that it meets the twin's credential first (in message_2);
    a reference Initiator would itself refuse the firmware's message_2 for the same reason."""
    load_credentials(agent.client, device_identity(), _twin())
    agent.client.call(Command.RESET, {"scope": "sessions"})
    peer = _reference("responder", _twin())
    started = agent.client.session_start(
        "initiator", method=0, suites=[-102], cred=device_identity().kid, kem_seed=KEM_SEED
    ).ok()
    peer.receive(bytes([KIND_HANDSHAKE]) + byte_list(started["out"])[0], 0.5)
    (message_2,) = _handshake_payloads(peer)
    response = agent.client.session_deliver(as_int(started["session"]), message_2)
    assert response.status == Status.PROTOCOL_ALERT
    assert response.result["alert"] == "authentication_failed"
    assert response.result["out"] == [b"\x01\x75authentication_failed"]
    agent.assert_alive()


@functools.cache
def _impostor() -> Identity:
    """A different key presented under the host's kid."""
    return generate_identity(
        "ML-DSA-44", subject="impostor", kid=host_identity().kid, rng=ShakeRng(b"impostor")
    )


def test_by_value_credential_under_a_stored_kid_is_authentication_failed(agent: Agent) -> None:
    """REQ-KS-004: a by-value CCS whose kid is stored with other bytes never replaces it."""
    load_credentials(agent.client, device_identity(), host_identity())
    response = _drive_responder(agent, _reference("initiator", _impostor(), by_value=True))
    assert response.status == Status.PROTOCOL_ALERT
    assert response.result["alert"] == "authentication_failed"
    assert response.result["out"] == [b"\x01\x75authentication_failed"]
    # The stored credential still works.
    peer = _reference("initiator", host_identity())
    assert _drive_responder(agent, peer).ok()["state"] == "DONE"


def test_by_value_credential_identical_to_the_stored_one_is_accepted(agent: Agent) -> None:
    """§4.4.1, REQ-KS-003: byte-identical by-value CCS is used; MAC_3 and the signature then
    cover ID_CRED_I = {14: CCS} as sent."""
    load_credentials(agent.client, device_identity(), host_identity())
    peer = _reference("initiator", host_identity(), by_value=True)
    assert _drive_responder(agent, peer).ok() == {"out": [], "state": "DONE"}


def test_by_value_credential_with_an_unknown_kid_is_tofu_disabled(agent: Agent) -> None:
    """REQ-KS-003: TOFU is off, so an unknown by-value credential gets ERR_CODE 1 tofu_disabled."""
    load_credentials(agent.client, device_identity(), _twin())
    response = _drive_responder(agent, _reference("initiator", host_identity(), by_value=True))
    assert response.result["alert"] == "tofu_disabled"


def test_cred_load_never_repins_a_stored_peer_kid(agent: Agent) -> None:
    """REQ-KS-004 at provisioning: the same bytes again are a no-op, other bytes are refused."""
    load_credentials(agent.client, device_identity(), host_identity())
    again = agent.client.cred_load("peer", ccs=host_identity().credential.cred)
    assert again.ok() == {"kid": host_identity().kid}
    refused = agent.client.cred_load("peer", ccs=_impostor().credential.cred)
    assert refused.status == Status.INVALID_INPUT
    peer = _reference("initiator", host_identity())
    assert _drive_responder(agent, peer).ok()["state"] == "DONE"
