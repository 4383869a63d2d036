"""The EDHOC handshake of the reference firmware against the Python reference (spec ch. 5, 6).

Each test runs on every target (host, qemu-m4, host-asan). Besides "both sides derive the same
keys", the firmware's messages are compared byte for byte with the reference's given the same
explicit randomness (REQ-TAP-014), which pins every transcript hash, key and signature input.
"""

from __future__ import annotations

import functools
import random

import pytest

from pqiot.hil.agent_client import Command, Status
from pqiot.reference.cbor import CborValue
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.identity import Identity
from pqiot.reference.session import KIND_HANDSHAKE, Session

from .conftest import Agent
from .peer import (
    as_int,
    byte_list,
    device_identity,
    handshake,
    host_identity,
    load_credentials,
    reference_config,
)

KEM_SEED = bytes(range(64))
KEM_M = bytes(range(32, 64))
#: ML-DSA rnd = 0^32: the deterministic variant (FIPS 204 §3.4), as the reference transcript
#: signs. Without sig_rnd the firmware signs hedged with rnd from its DRBG (REQ-SP-008).
SIG_RND = bytes(32)


@pytest.fixture
def credentials(agent: Agent) -> Agent:
    load_credentials(agent.client, device_identity(), host_identity())
    return agent


@pytest.mark.parametrize("role", ["responder", "initiator"])
def test_full_handshake_with_the_reference_exports_the_same_keys(
    credentials: Agent, role: str
) -> None:
    """REQ-TAP-015, REQ-KEYS-007: EXPORT equals the reference's EDHOC_Exporter in DONE."""
    link = handshake(credentials.client, role)
    states = [step.ok().get("state") for step in link.steps[1:]]
    assert states[-1] == "DONE"
    assert link.export(0, 32) == link.peer_export(0, 32)  # OSCORE Master Secret
    assert link.export(1, 8) == link.peer_export(1, 8)  # OSCORE Master Salt
    assert link.export(40000, 100, b"ctx") == link.peer_export(40000, 100, b"ctx")
    assert link.export(0, 32) != link.export(1, 32)


@functools.cache
def _reference_transcript() -> tuple[bytes, bytes, bytes]:
    """message_1..3 of two reference parties with the firmware's explicit randomness."""
    device, host = device_identity(), host_identity()
    initiator = Session(
        Initiator(
            reference_config(
                "initiator", device, host, rng=lambda n: KEM_SEED[:n], connection_id=b"\x37"
            )
        )
    )
    responder = Session(
        Responder(
            reference_config(
                "responder", host, device, rng=lambda n: KEM_M[:n], connection_id=b"\x00"
            )
        )
    )
    initiator.start(0.0)
    responder.start(0.0)
    messages: list[bytes] = []
    for sender, receiver in (
        (initiator, responder),
        (responder, initiator),
        (initiator, responder),
    ):
        (payload,) = [p for p in sender.data_to_send() if p[0] == KIND_HANDSHAKE]
        messages.append(payload[1:])
        receiver.receive(payload, 0.5)
    return messages[0], messages[1], messages[2]


def test_initiator_messages_are_byte_identical_to_the_reference(agent: Agent) -> None:
    """REQ-TAP-014: kem_seed, c_id and deterministic ML-DSA give the reference's message_1/3."""
    message_1, message_2, message_3 = _reference_transcript()
    load_credentials(agent.client, device_identity(), host_identity())
    agent.client.call(Command.RESET, {"scope": "sessions"})
    start = agent.client.session_start(
        "initiator",
        method=0,
        suites=[-102],
        cred=device_identity().kid,
        kem_seed=KEM_SEED,
        sig_rnd=SIG_RND,
        c_id=-24,
    ).ok()
    assert start["out"] == [message_1]
    assert len(message_1) == 1191  # spec §5.2 byte layout: 00 38 65 59 04a0 <ek> 37
    assert message_1[:6] == bytes.fromhex("0038655904a0") and message_1[-1] == 0x37
    reply = agent.client.session_deliver(as_int(start["session"]), message_2).ok()
    assert reply == {"out": [message_3], "state": "DONE"}


def test_responder_messages_are_byte_identical_to_the_reference(agent: Agent) -> None:
    """REQ-TAP-014 for the responder: kem_m and C_R fix message_2 (G_Y, signature, keystream)."""
    message_1, message_2, message_3 = _reference_transcript()
    load_credentials(agent.client, host_identity(), device_identity())
    agent.client.call(Command.RESET, {"scope": "sessions"})
    start = agent.client.session_start(
        "responder",
        method=0,
        suites=[-102],
        cred=host_identity().kid,
        kem_m=KEM_M,
        c_id=0,
        sig_rnd=SIG_RND,
    ).ok()
    assert start["out"] == []
    session = as_int(start["session"])
    assert agent.client.session_deliver(session, message_1).ok() == {
        "out": [message_2],
        "state": "WAIT_M3",
    }
    assert agent.client.session_deliver(session, message_3).ok() == {"out": [], "state": "DONE"}


def test_tampered_message_3_is_decrypt_failed_with_an_error_message(credentials: Agent) -> None:
    """REQ-HS-013, REQ-HS-021, REQ-TAP-013: status 7, the EDHOC error in `out`, state FAILED."""
    message_1, _, message_3 = _reference_transcript()
    client = credentials.client
    load_credentials(client, host_identity(), device_identity())
    client.call(Command.RESET, {"scope": "sessions"})
    session = as_int(
        client.session_start(
            "responder",
            method=0,
            suites=[-102],
            cred=host_identity().kid,
            kem_m=KEM_M,
            c_id=0,
            sig_rnd=SIG_RND,
        ).ok()["session"]
    )
    client.session_deliver(session, message_1).ok()
    tampered = message_3[:-1] + bytes([message_3[-1] ^ 1])
    response = client.session_deliver(session, tampered)
    assert response.status == Status.PROTOCOL_ALERT
    assert response.result["alert"] == "decrypt_failed" and response.result["state"] == "FAILED"
    assert response.result["out"] == [bytes.fromhex("01") + b"\x6e" + b"decrypt_failed"]
    # A FAILED session drops every input (§5.11) without a reply; it is not resurrected.
    assert client.session_deliver(session, message_3).ok() == {"out": [], "state": "FAILED"}
    assert client.export(session, 0, 32).status == Status.INVALID_STATE  # REQ-TAP-015
    credentials.assert_alive()


def test_wrong_suite_and_unknown_kid_get_the_rfc9528_error_codes(credentials: Agent) -> None:
    """REQ-HS-027/028: ERR_CODE 2 with SUITES_R; REQ-HS-010 + RFC 9528 §6.4: ERR_CODE 3."""
    message_1, _, _ = _reference_transcript()
    client = credentials.client
    load_credentials(client, host_identity(), device_identity())
    client.call(Command.RESET, {"scope": "sessions"})
    args = {"method": 0, "cred": host_identity().kid, "kem_m": KEM_M, "sig_rnd": SIG_RND}
    only_101 = as_int(client.session_start("responder", suites=[-101], **args).ok()["session"])
    response = client.session_deliver(only_101, message_1)
    assert response.status == Status.PROTOCOL_ALERT
    assert response.result["out"] == [bytes.fromhex("023864")]  # ERR_CODE 2, SUITES_R = -101
    # The device's kid is not on the allow-list any more: message_3 names an unknown credential.
    load_credentials(client, host_identity(), host_identity())
    client.call(Command.RESET, {"scope": "sessions"})
    session = as_int(
        client.session_start("responder", suites=[-102], c_id=0, **args).ok()["session"]
    )
    assert client.session_deliver(session, message_1).status == Status.OK
    _, _, message_3 = _reference_transcript()
    response = client.session_deliver(session, message_3)
    assert response.result["alert"] == "unknown_credential"
    assert response.result["out"] == [bytes.fromhex("03f5")]
    credentials.assert_alive()


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"\x00",
        bytes.fromhex("0038655904a0"),
        bytes.fromhex("04386541002 7".replace(" ", "")),
        bytes.fromhex("00386541ff27"),
    ],
    ids=["empty", "method-only", "truncated-g_x", "method-4", "short-g_x"],
)
def test_malformed_message_1_gets_an_error_and_the_agent_survives(
    credentials: Agent, message: bytes
) -> None:
    """REQ-HS-004 order, REQ-TAP-005: decode_error / unsupported_method, never a crash."""
    client = credentials.client
    client.call(Command.RESET, {"scope": "sessions"})
    session = as_int(
        client.session_start(
            "responder", method=0, suites=[-102], cred=device_identity().kid, kem_m=KEM_M
        ).ok()["session"]
    )
    response = client.session_deliver(session, message)
    assert response.status == Status.PROTOCOL_ALERT
    expected = "unsupported_method" if message[:1] == b"\x04" else "decode_error"
    assert response.result["alert"] == expected
    (error,) = byte_list(response.result["out"])
    assert error[:1] == b"\x01" and expected.encode() in error
    credentials.assert_alive()


@pytest.mark.parametrize(
    ("args", "status"),
    [
        ({"method": 4}, Status.UNSUPPORTED),
        ({"suites": [-103]}, Status.UNSUPPORTED),
        ({"msg4": True}, Status.UNSUPPORTED),
        ({"cred": b"nope"}, Status.INVALID_STATE),
        ({"suites": "x"}, Status.MALFORMED),
    ],
)
def test_session_start_refuses_what_is_not_implemented(
    credentials: Agent, args: dict[str, CborValue], status: Status
) -> None:
    """REQ-TAP-004: unsupported method/suite/option is status 3, malformed args status 2."""
    base: dict[str, CborValue] = {
        "method": 0,
        "suites": [-102],
        "cred": device_identity().kid,
        "kem_m": KEM_M,
    }
    base.update(args)
    call_args = {k: v for k, v in base.items() if v is not None}
    assert credentials.client.session_start("responder", **call_args).status == status
    credentials.assert_alive()


def test_session_start_without_randomness_draws_it_from_the_drbg(credentials: Agent) -> None:
    """REQ-SP-008: without kem_seed the Initiator's ephemeral key comes from the firmware's DRBG,
    fresh for every session; the QEMU image launched without semihosting has no entropy source
    and must refuse with status 3 instead of using predictable bytes."""
    client = credentials.client
    client.call(Command.RESET, {"scope": "sessions"})
    firsts = []
    for _ in range(2):
        response = client.session_start(
            "initiator", method=0, suites=[-102], cred=device_identity().kid
        )
        if credentials.is_qemu and response.status == Status.UNSUPPORTED:
            # spawn_qemu starts QEMU without -semihosting-config: no entropy, an honest refusal
            assert "entropy" in str(response.result.get("error"))
            credentials.assert_alive()
            return
        (message_1,) = byte_list(response.ok()["out"])
        firsts.append(message_1)
    assert firsts[0] != firsts[1], "two sessions without kem_seed sent the same G_X"
    credentials.assert_alive()


@pytest.mark.parametrize("suite", [-101, -105])
def test_other_declared_suites_complete_a_handshake(credentials: Agent, suite: int) -> None:
    """REQ-TAP-008: every declared suite works (ML-KEM-512 + CCM-8, ChaCha20-Poly1305)."""
    if credentials.target != "host":
        pytest.skip("the AEAD and KEM variants are target-independent C; host covers them")
    for role in ("initiator", "responder"):
        link = handshake(credentials.client, role, suite=suite)
        assert link.export(0, 16) == link.peer_export(0, 16)
        record = link.firmware_send(b"suite %d" % -suite)
        link.to_peer([record])
        assert [getattr(e, "data", None) for e in link.peer_events()] == [b"suite %d" % -suite]


def test_mutated_handshake_messages_never_break_the_agent(credentials: Agent) -> None:
    """REQ-TAP-005, REQ-TAP-020: hostile message_1/2/3 bytes reach the production parsers
    through SESSION_DELIVER; every answer is status 0 or 7 and the agent stays alive (under
    ASan+UBSan on host-asan)."""
    if credentials.is_qemu:
        pytest.skip("parsers are target-independent C; host and host-asan run them sanitised")
    message_1, message_2, message_3 = _reference_transcript()
    client = credentials.client
    rng = random.Random(4)

    def mutate(message: bytes) -> bytes:
        data = bytearray(message)
        choice = rng.randrange(3)
        if choice == 0:
            return bytes(data[: rng.randrange(len(data))])
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data) if choice == 1 else bytes(data) + bytes(rng.randrange(1, 40))

    def fresh(role: str, own: Identity) -> int:
        client.call(Command.RESET, {"scope": "sessions"})
        args: dict[str, CborValue] = {
            "method": 0,
            "suites": [-102],
            "cred": own.kid,
            "c_id": -24 if role == "initiator" else 0,
        }
        args.update({"kem_seed": KEM_SEED} if role == "initiator" else {"kem_m": KEM_M})
        return as_int(client.session_start(role, **args).ok()["session"])

    load_credentials(client, host_identity(), device_identity())
    for _ in range(12):
        session = fresh("responder", host_identity())
        assert client.session_deliver(session, mutate(message_1)).status in (Status.OK, 7)
    for _ in range(6):
        session = fresh("responder", host_identity())
        client.session_deliver(session, message_1).ok()
        assert client.session_deliver(session, mutate(message_3)).status in (Status.OK, 7)
    load_credentials(client, device_identity(), host_identity())
    for _ in range(6):
        session = fresh("initiator", device_identity())
        assert client.session_deliver(session, mutate(message_2)).status in (Status.OK, 7)
    credentials.assert_alive()
