"""Protocol roles through TAP (spec §13.5, REQ-TAP-013..016): two reference agents talk."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from pqiot.reference import cbor
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.identity import generate_identity
from pqiot.reference.tap.codes import Command, Status

from .conftest import ALICE, BOB, AgentHarness
from .conftest import load_pair as _load

SUITE = -102


def _handshake(
    initiator: AgentHarness, responder: AgentHarness, **options: Any
) -> tuple[int, int, list[bytes]]:
    """Run a handshake by shuttling `out` messages; return both session ids and the transcript."""
    kid_i, kid_r = _load(initiator, ALICE, BOB), _load(responder, BOB, ALICE)
    started_i = initiator.ok(
        Command.SESSION_START,
        {"role": "initiator", "method": 0, "suites": [SUITE], "cred": kid_i, **options},
    )
    started_r = responder.ok(
        Command.SESSION_START, {"role": "responder", "method": 0, "suites": [SUITE], "cred": kid_r}
    )
    assert started_r["out"] == []
    transcript = list(started_i["out"])
    queue = [(responder, started_r["session"], m) for m in started_i["out"]]
    while queue:
        target, session, message = queue.pop(0)
        result = target.ok(Command.SESSION_DELIVER, {"session": session, "msg": message})
        transcript += result["out"]
        peer, peer_session = (
            (initiator, started_i["session"])
            if target is responder
            else (responder, started_r["session"])
        )
        queue += [(peer, peer_session, m) for m in result["out"]]
    return started_i["session"], started_r["session"], transcript


@pytest.fixture
def pair() -> tuple[AgentHarness, AgentHarness]:
    return AgentHarness(), AgentHarness()


def test_handshake_application_data_and_exporter(pair: tuple[AgentHarness, AgentHarness]) -> None:
    """Both reach DONE; a record sent by one is received by the other; EXPORT agrees (REQ-TAP-015)."""
    initiator, responder = pair
    si, sr, transcript = _handshake(initiator, responder)
    assert len(transcript) == 3, "message_1, message_2, message_3"
    for tap, session, role in ((initiator, si, "initiator"), (responder, sr, "responder")):
        info = tap.ok(Command.SESSION_INFO, {"session": session})
        assert (info["state"], info["role"], info["suite"], info["epoch"]) == (
            "DONE",
            role,
            SUITE,
            0,
        )
    record = initiator.ok(Command.APP_SEND, {"session": si, "data": b"hello"})["out"]
    assert len(record) == 1
    received = responder.ok(Command.APP_RECEIVE, {"session": sr, "record": record[0]})
    assert (received["content_type"], received["data"]) == (1, b"hello")
    export = {"label": 40000, "context": b"ctx", "len": 24}
    assert initiator.ok(Command.EXPORT, {"session": si, **export}) == responder.ok(
        Command.EXPORT, {"session": sr, **export}
    )


def test_key_update_moves_both_sides_to_the_next_epoch(
    pair: tuple[AgentHarness, AgentHarness],
) -> None:
    """KEY_UPDATE with a fixed nonce: the exporter changes identically on both sides."""
    initiator, responder = pair
    si, sr, _ = _handshake(initiator, responder)
    export = {"label": 40000, "context": b"", "len": 16}
    before = initiator.ok(Command.EXPORT, {"session": si, **export})
    update = initiator.ok(Command.KEY_UPDATE, {"session": si, "nonce": bytes(range(16))})["out"]
    answer = responder.ok(Command.APP_RECEIVE, {"session": sr, "record": update[0]})
    assert answer["content_type"] == 2 and len(answer["out"]) == 1, (
        "key_update answered with an ack"
    )
    ack = initiator.ok(Command.APP_RECEIVE, {"session": si, "record": answer["out"][0]})
    assert ack["content_type"] == 3
    after_i = initiator.ok(Command.EXPORT, {"session": si, **export})
    after_r = responder.ok(Command.EXPORT, {"session": sr, **export})
    assert after_i == after_r != before
    assert initiator.ok(Command.SESSION_INFO, {"session": si})["epoch"] == 1


def test_fixed_randomness_gives_byte_identical_messages() -> None:
    """REQ-TAP-014: kem_seed, c_id and sig_rnd fix message_1 (and the rest) completely."""
    options = {"kem_seed": bytes(range(64)), "c_id": b"\x0e", "sig_rnd": bytes(32)}
    runs = []
    for _ in range(2):
        initiator = AgentHarness()
        kid = _load(initiator, ALICE, BOB)
        out = initiator.ok(
            Command.SESSION_START,
            {"role": "initiator", "method": 0, "suites": [SUITE], "cred": kid, **options},
        )["out"]
        runs.append(out)
    assert runs[0] == runs[1]
    assert runs[0][0][1:2] == b"\x38", "SUITES_I = -102 (CBOR 0x38 0x65) follows METHOD"


def test_a_garbage_handshake_message_is_a_protocol_alert_with_the_error_message(
    pair: tuple[AgentHarness, AgentHarness],
) -> None:
    """REQ-TAP-013: status 7 with alert, out (the EDHOC error) and state."""
    _initiator, responder = pair
    kid = _load(responder, BOB, ALICE)
    session = responder.ok(
        Command.SESSION_START, {"role": "responder", "method": 0, "suites": [SUITE], "cred": kid}
    )["session"]
    status, result = responder(
        Command.SESSION_DELIVER, {"session": session, "msg": b"\xff\x00garbage"}
    )
    assert status == Status.PROTOCOL_ALERT
    assert result["alert"] == "decode_error" and result["state"] == "FAILED"
    assert isinstance(result["out"], list)
    assert responder.ok(Command.ECHO, {"data": b"x"}) == {"data": b"x"}, "REQ-TAP-005"


def test_state_and_reset_rules(pair: tuple[AgentHarness, AgentHarness]) -> None:
    """EXPORT before DONE is status 5 (REQ-TAP-015); RESET sessions forgets sessions (REQ-TAP-016)."""
    initiator, _ = pair
    kid = _load(initiator, ALICE, BOB)
    session = initiator.ok(
        Command.SESSION_START, {"role": "initiator", "method": 0, "suites": [SUITE], "cred": kid}
    )["session"]
    assert (
        initiator(Command.EXPORT, {"session": session, "label": 0, "context": b"", "len": 16})[0]
        == Status.INVALID_STATE
    )
    assert initiator.ok(Command.SESSION_INFO, {"session": session})["state"] == "WAIT_M2"
    initiator.ok(Command.RESET, {"scope": "sessions"})
    assert initiator(Command.SESSION_INFO, {"session": session})[0] == Status.INVALID_STATE
    # credentials survive "sessions", not "all"
    assert (
        initiator(
            Command.SESSION_START,
            {"role": "initiator", "method": 0, "suites": [SUITE], "cred": kid},
        )[0]
        == 0
    )
    initiator.ok(Command.RESET, {"scope": "all"})
    assert (
        initiator(
            Command.SESSION_START,
            {"role": "initiator", "method": 0, "suites": [SUITE], "cred": kid},
        )[0]
        == Status.INVALID_STATE
    )


def test_unimplemented_options_are_unsupported_not_ignored(tap: AgentHarness) -> None:
    """REQ-TAP-004: method 4, a transport other than tap/link and persist are status 3."""
    kid = _load(tap, ALICE, BOB)
    base = {"role": "initiator", "suites": [SUITE], "cred": kid}
    assert tap(Command.SESSION_START, {**base, "method": 4})[0] == Status.UNSUPPORTED
    assert (
        tap(Command.SESSION_START, {**base, "method": 0, "transport": "udp"})[0]
        == Status.UNSUPPORTED
    )
    assert (
        tap(Command.CRED_LOAD, {"slot": "peer", "ccs": BOB.credential.cred, "persist": True})[0]
        == Status.UNSUPPORTED
    )


@pytest.mark.parametrize(
    ("limits", "status"),
    [
        ({"q": 19}, Status.INVALID_INPUT),
        ({"v": 0}, Status.INVALID_INPUT),
        ({"q": "20"}, Status.MALFORMED),
        ({"x": 20}, Status.MALFORMED),
        ([20], Status.MALFORMED),
    ],
)
def test_session_start_limits_are_checked(tap: AgentHarness, limits: Any, status: Status) -> None:
    """§13.5 ``limits``: q at least 20 (REQ-KU-015), v at least 1, only the keys q and v."""
    kid = _load(tap, ALICE, BOB)
    args = {"role": "initiator", "method": 0, "suites": [SUITE], "cred": kid, "limits": limits}
    assert tap(Command.SESSION_START, args)[0] == status


def test_lowered_limit_q_starts_a_key_update_at_its_threshold(
    pair: tuple[AgentHarness, AgentHarness],
) -> None:
    """REQ-KU-010 with limits q = 20: the 18th APP_SEND also carries the key_update record."""
    initiator, responder = pair
    session, peer_session, _ = _handshake(initiator, responder, limits={"q": 20})
    for count in range(1, 19):
        out = initiator.ok(Command.APP_SEND, {"session": session, "data": b"x"})["out"]
        assert len(out) == (2 if count == 18 else 1), (count, len(out))
        for record in out:
            responder.ok(Command.APP_RECEIVE, {"session": peer_session, "record": record})
    info = initiator.ok(Command.SESSION_INFO, {"session": session})
    assert (info["epoch"], info["ssn"]) == (1, 0)


def test_x25519_eph_is_the_hybrid_suites_ephemeral_x25519_key() -> None:
    """REQ-TAP-014: ``x25519_eph`` fixes pk_X in G_X and ct_X in G_Y of suite -107 (§3.3).

    The responder gets no ``kem_m``: its ML-KEM m is still drawn before the X25519 key,
    so ``x25519_eph`` must not be consumed as m.
    """
    alice = generate_identity("ML-DSA-65", subject="alice", rng=ShakeRng(b"alice-65"))
    bob = generate_identity("ML-DSA-65", subject="bob", rng=ShakeRng(b"bob-65"))
    eph_i, eph_r = bytes(range(1, 33)), bytes(range(33, 65))
    initiator, responder = AgentHarness(), AgentHarness()
    start = {"method": 0, "suites": [-107]}
    si, message_1 = _started(
        initiator.ok(
            Command.SESSION_START,
            {
                **start,
                "role": "initiator",
                "cred": _load(initiator, alice, bob),
                "kem_seed": bytes(64),
                "x25519_eph": eph_i,
            },
        )
    )
    sr, _ = _started(
        responder.ok(
            Command.SESSION_START,
            {
                **start,
                "role": "responder",
                "cred": _load(responder, bob, alice),
                "x25519_eph": eph_r,
            },
        )
    )
    g_x = cbor.decode_sequence(message_1[0])[2]
    assert isinstance(g_x, bytes) and g_x[1184:] == _x25519_public(eph_i)
    message_2 = responder.ok(Command.SESSION_DELIVER, {"session": sr, "msg": message_1[0]})["out"]
    g_y = cbor.decode_sequence(bytes(message_2[0]))[0]
    assert isinstance(g_y, bytes) and g_y[1088:1120] == _x25519_public(eph_r)
    message_3 = initiator.ok(Command.SESSION_DELIVER, {"session": si, "msg": message_2[0]})["out"]
    responder.ok(Command.SESSION_DELIVER, {"session": sr, "msg": message_3[0]})
    for tap, session in ((initiator, si), (responder, sr)):
        assert tap.ok(Command.SESSION_INFO, {"session": session})["state"] == "DONE"


def _started(result: dict[str, Any]) -> tuple[int, list[bytes]]:
    return int(result["session"]), [bytes(m) for m in result["out"]]


def _x25519_public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
