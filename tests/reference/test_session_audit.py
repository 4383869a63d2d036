"""Session audit events, byte for byte (spec chapter 9 §9.2, chapter 10 §10.2).

Known answers: the identities, connection identifiers and nonces come from
seeded ShakeRngs and every call passes its own ``now``, so each event line is
fixed. The lines below were checked field by field against §9.1/§9.2; a
change in any of them is a change of the audit contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from pqiot.reference import cbor
from pqiot.reference.audit import AuditLog, MemorySink
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.errors import Alert
from pqiot.reference.identity import Identity, generate_identity
from pqiot.reference.keystore import KeyStore
from pqiot.reference.records import layer as rl
from pqiot.reference.session import KIND_HANDSHAKE, Session, SessionState
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.suites import DEFAULT_SUITE, METHOD_SIGNATURE

#: 2026-11-22T14:00:00.000Z: handshakes start here; later steps add seconds.
T0 = 1795356000.0
KID_I = "9b97333e52f2c085"  # kid of the seeded initiator identity
KID_R = "049b359fb482fffc"  # kid of the seeded responder identity


@dataclass
class Pair:
    initiator: Session
    responder: Session
    sink_i: MemorySink
    sink_r: MemorySink


def _identity(subject: str, seed: bytes) -> Identity:
    return generate_identity("ML-DSA-44", subject=subject, rng=ShakeRng(seed))


def make_pair(
    *,
    responder_knows_initiator: bool = True,
    by_value: bool = False,
    initiator_suites: tuple[int, ...] = (DEFAULT_SUITE,),
    responder_suites: tuple[int, ...] = (DEFAULT_SUITE,),
) -> Pair:
    alice, bob = _identity("initiator", b"alice"), _identity("responder", b"bob")
    sinks = MemorySink(), MemorySink()
    sessions = []
    for role, me, peer, suites, sink, seed, knows in (
        ("initiator", alice, bob, initiator_suites, sinks[0], b"rng-i", True),
        ("responder", bob, alice, responder_suites, sinks[1], b"rng-r", responder_knows_initiator),
    ):
        provider = SoftwareSecurityProvider()
        audit = AuditLog(sink, clock=None)
        store = KeyStore(tofu=False, audit=audit)
        if knows and not by_value:
            store.add(peer.credential)
        rng = ShakeRng(seed)
        config = HandshakeConfig(
            role=role,  # type: ignore[arg-type]
            method=METHOD_SIGNATURE,
            suites=suites,
            credential=me.credential,
            key=me.install(provider),
            provider=provider,
            resolver=store,
            rng=rng,
            send_credential_by_value=by_value,
        )
        handshake = Initiator(config) if role == "initiator" else Responder(config)
        sessions.append(Session(handshake, audit=audit, rng=rng))
    return Pair(sessions[0], sessions[1], *sinks)


def shuttle(pair: Pair, now: float) -> None:
    for _ in range(10):
        moved = False
        for payload in pair.initiator.data_to_send():
            pair.responder.receive(payload, now)
            moved = True
        for payload in pair.responder.data_to_send():
            pair.initiator.receive(payload, now)
            moved = True
        if not moved:
            return


def established(**kwargs: object) -> Pair:
    pair = make_pair(**kwargs)  # type: ignore[arg-type]
    pair.initiator.start(T0)
    pair.responder.start(T0)
    shuttle(pair, T0 + 0.25)
    assert pair.initiator.state is SessionState.ESTABLISHED
    assert pair.responder.state is SessionState.ESTABLISHED
    pair.sink_i.lines.clear()
    pair.sink_r.lines.clear()
    return pair


def drain(session: Session) -> list[object]:
    out: list[object] = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


def state(session: Session) -> SessionState:
    """The state, read through a call so that a check after a state change type-checks."""
    return session.state


def line(
    ts: str, event: str, severity: str, peer: str | None, suite: int | None, **detail: object
) -> str:
    """One expected JSON line, keys in the §9.1 order (REQ-AUDIT-007)."""
    record = {
        "ts": ts,
        "event": event,
        "severity": severity,
        "peer": peer,
        "suite": suite,
        "detail": detail,
    }
    return json.dumps(record, separators=(",", ":"))


# -- a completed handshake (REQ-AUDIT-005, §9.2 peer_authenticated / handshake_completed) --


def test_completed_handshake_is_audited_on_both_sides() -> None:
    """role, method, trust ``allow-list`` (hyphen), sub; role, method, c_i, c_r, duration_ms."""
    pair = make_pair()
    pair.initiator.start(T0)
    pair.responder.start(T0)
    shuttle(pair, T0 + 0.25)
    ts = "2026-11-22T14:00:00.250Z"
    assert pair.sink_i.lines == [
        line(
            ts,
            "peer_authenticated",
            "info",
            KID_R,
            -102,
            role="initiator",
            method=0,
            trust="allow-list",
            sub="responder",
        ),
        line(
            ts,
            "handshake_completed",
            "info",
            KID_R,
            -102,
            role="initiator",
            method=0,
            c_i="20",
            c_r="33",
            duration_ms=250,
        ),
    ]
    assert pair.sink_r.lines == [
        line(
            ts,
            "peer_authenticated",
            "info",
            KID_I,
            -102,
            role="responder",
            method=0,
            trust="allow-list",
            sub="initiator",
        ),
        line(
            ts,
            "handshake_completed",
            "info",
            KID_I,
            -102,
            role="responder",
            method=0,
            c_i="20",
            c_r="33",
            duration_ms=250,
        ),
    ]
    completed = pair.initiator.handshake_result
    assert completed is not None and (completed.c_i.hex(), completed.c_r.hex()) == ("20", "33")


# -- records (§9.2 replay_dropped, decrypt_failed, rekey) ---------------------------------


def test_replayed_and_forged_records_are_audited_with_context_piv_and_reason() -> None:
    pair = established()
    pair.initiator.send(b"once", T0 + 1)
    pair.initiator.send(b"twice", T0 + 1)
    first, second = pair.initiator.data_to_send()
    pair.responder.receive(first, T0 + 2)
    pair.responder.receive(first, T0 + 3)  # replay of Partial IV 0
    pair.responder.receive(second[:-1] + bytes([second[-1] ^ 1]), T0 + 4)  # broken tag
    assert pair.sink_r.lines == [
        line(
            "2026-11-22T14:00:03.000Z",
            "replay_dropped",
            "warning",
            KID_I,
            -102,
            context="record",
            piv=0,
            reason="window",
        ),
        line(
            "2026-11-22T14:00:04.000Z",
            "decrypt_failed",
            "warning",
            KID_I,
            -102,
            context="record",
            count_v=1,
            reason="authentication failed",
        ),
    ]
    assert pair.responder.state is SessionState.ESTABLISHED


def test_rekey_says_who_started_the_key_update() -> None:
    """REQ-KU-009: rekey with the new epoch; initiated_by local on the starter, peer on the other."""
    pair = established()
    pair.initiator.update_keys(T0 + 5)
    shuttle(pair, T0 + 5)
    assert pair.sink_i.lines == [
        line(
            "2026-11-22T14:00:05.000Z", "rekey", "info", KID_R, -102, epoch=1, initiated_by="local"
        )
    ]
    assert pair.sink_r.lines == [
        line("2026-11-22T14:00:05.000Z", "rekey", "info", KID_I, -102, epoch=1, initiated_by="peer")
    ]


# -- timers (REQ-HS-037, REQ-KU-006) ------------------------------------------------------


def test_key_update_timeout_sends_the_close_record_and_fails_the_session() -> None:
    """REQ-KU-006: no record of the new epoch in 10 s: close with key_update_failed.

    handle_timer does not raise: the close record is queued, the session is FAILED,
    the application sees SessionClosed, and handshake_failed is audited.
    """
    pair = established()
    drain(pair.responder)
    pair.responder.update_keys(T0 + 7)
    lost = pair.responder.data_to_send()  # the key_update record never arrives
    assert len(lost) == 1
    deadline = pair.responder.timer_deadline
    assert deadline == T0 + 17
    pair.responder.handle_timer(deadline - 0.001)
    assert pair.responder.state is SessionState.ESTABLISHED
    pair.responder.handle_timer(deadline)
    assert state(pair.responder) is SessionState.FAILED
    assert rl.SessionClosed(Alert.KEY_UPDATE_FAILED, "local") in drain(pair.responder)
    assert pair.responder.timer_deadline is None
    (close,) = pair.responder.data_to_send()
    # The close record is sealed with the epoch-1 keys the lost key_update announced:
    # the initiator has no context for it and drops it (decrypt_failed, "no context").
    pair.initiator.receive(close, deadline)
    assert pair.initiator.state is SessionState.ESTABLISHED
    ts = "2026-11-22T14:00:17.000Z"
    assert pair.sink_r.lines == [
        line(
            ts,
            "handshake_failed",
            "error",
            KID_I,
            -102,
            alert="key_update_failed",
            origin="local",
            state="DONE",
        )
    ]
    assert pair.sink_i.lines == [
        line(
            ts,
            "decrypt_failed",
            "warning",
            KID_R,
            -102,
            context="record",
            count_v=0,
            reason="no context",
        )
    ]
    pair.responder.close(deadline + 1)  # closing an ended session changes nothing
    assert state(pair.responder) is SessionState.FAILED
    assert pair.responder.data_to_send() == []


def test_handshake_state_timer_fails_silently_with_unspecified_error() -> None:
    """REQ-HS-037 / §5.11: FAILED, nothing sent, handshake_failed with the state and reason."""
    pair = make_pair()
    pair.initiator.start(T0)
    pair.initiator.data_to_send()
    pair.initiator.handle_timer(T0 + 29.999)
    assert pair.initiator.state is SessionState.HANDSHAKING
    pair.initiator.handle_timer(T0 + 30)
    assert state(pair.initiator) is SessionState.FAILED
    assert pair.initiator.data_to_send() == []
    assert pair.sink_i.lines == [
        line(
            "2026-11-22T14:00:30.000Z",
            "handshake_failed",
            "error",
            None,
            None,
            alert="unspecified_error",
            origin="local",
            state="WAIT_M2",
            reason="timeout",
        )
    ]


# -- alerts raised and received (REQ-ERR-006, REQ-AUDIT-005) --------------------------------

TS = "2026-11-22T14:00:00.250Z"


def test_unknown_credential_raised_and_received() -> None:
    """ERR_CODE 3: auth_failed on both sides; the initiator learns it in DONE (stage message_3)."""
    pair = make_pair(responder_knows_initiator=False)
    pair.initiator.start(T0)
    pair.responder.start(T0)
    shuttle(pair, T0 + 0.25)
    assert pair.sink_r.lines == [
        line(
            TS,
            "auth_failed",
            "error",
            None,
            None,
            alert="unknown_credential",
            stage="message_3",
            origin="local",
        )
    ]
    assert pair.sink_i.lines[2:] == [
        line(
            TS,
            "auth_failed",
            "error",
            KID_R,
            None,
            alert="unknown_credential",
            stage="message_3",
            origin="peer",
            err_code=3,
        )
    ]
    assert pair.initiator.state is SessionState.FAILED


def test_tofu_disabled_raised_and_received() -> None:
    pair = make_pair(by_value=True)
    pair.initiator.start(T0)
    pair.responder.start(T0)
    shuttle(pair, T0 + 0.25)
    assert pair.sink_i.lines == [
        line(
            TS,
            "auth_failed",
            "error",
            None,
            None,
            alert="tofu_disabled",
            stage="message_2",
            origin="local",
        )
    ]
    assert pair.sink_r.lines == [
        line(
            TS,
            "auth_failed",
            "error",
            None,
            None,
            alert="tofu_disabled",
            stage="message_2",
            origin="peer",
            err_code=1,
        )
    ]


def test_received_error_message_is_one_handshake_failed_with_err_code() -> None:
    """ERR_CODE 1 in WAIT_M2: the peer's alert name, origin peer, err_code, state WAIT_M2."""
    pair = make_pair()
    pair.initiator.start(T0)
    error = cbor.encode_sequence(1, "internal_error: out of memory")
    pair.initiator.receive(bytes([KIND_HANDSHAKE]) + error, T0 + 1)
    assert pair.initiator.state is SessionState.FAILED
    assert pair.sink_i.lines == [
        line(
            "2026-11-22T14:00:01.000Z",
            "handshake_failed",
            "error",
            None,
            None,
            alert="internal_error",
            origin="peer",
            state="WAIT_M2",
            err_code=1,
        )
    ]


def test_malformed_message_in_start_is_a_local_decode_error() -> None:
    pair = make_pair()
    pair.responder.start(T0)
    pair.responder.receive(bytes([KIND_HANDSHAKE, 0xFF]), T0 + 1)
    assert pair.sink_r.lines == [
        line(
            "2026-11-22T14:00:01.000Z",
            "handshake_failed",
            "error",
            None,
            None,
            alert="decode_error",
            origin="local",
            state="START",
        )
    ]


@pytest.mark.parametrize("retry", [True, False])
def test_wrong_selected_cipher_suite(retry: bool) -> None:
    """The Responder raises it (ERR_CODE 2); an Initiator without a common suite received it."""
    initiator_suites = (-103, DEFAULT_SUITE) if retry else (-103,)
    pair = make_pair(initiator_suites=initiator_suites)
    pair.initiator.start(T0)
    pair.responder.start(T0)
    shuttle(pair, T0 + 0.25)
    raised = line(
        TS,
        "handshake_failed",
        "error",
        None,
        None,
        alert="wrong_selected_cipher_suite",
        origin="local",
        state="START",
    )
    assert pair.sink_r.lines[0] == raised
    if retry:  # §5.11: the retried message_1 is a new handshake, which completes
        assert [json.loads(x)["event"] for x in pair.sink_i.lines] == [
            "peer_authenticated",
            "handshake_completed",
        ]
        assert pair.initiator.state is SessionState.ESTABLISHED
    else:
        assert pair.sink_i.lines == [
            line(
                TS,
                "handshake_failed",
                "error",
                None,
                None,
                alert="wrong_selected_cipher_suite",
                origin="peer",
                state="WAIT_M2",
                err_code=2,
            )
        ]


def test_close_with_an_alert_is_audited_by_both_parties() -> None:
    pair = established()
    pair.initiator.close(T0 + 9, Alert.INTERNAL_ERROR, "operator abort")
    shuttle(pair, T0 + 9)
    ts = "2026-11-22T14:00:09.000Z"
    assert pair.sink_i.lines == [
        line(
            ts,
            "handshake_failed",
            "error",
            KID_R,
            -102,
            alert="internal_error",
            origin="local",
            state="DONE",
        )
    ]
    assert pair.sink_r.lines == [
        line(
            ts,
            "handshake_failed",
            "error",
            KID_I,
            -102,
            alert="internal_error",
            origin="peer",
            state="DONE",
        )
    ]
    assert pair.responder.state is SessionState.FAILED


def test_orderly_close_is_not_an_alert() -> None:
    pair = established()
    pair.initiator.close(T0 + 9)
    shuttle(pair, T0 + 9)
    assert pair.sink_i.lines == [] and pair.sink_r.lines == []
    assert pair.responder.state is SessionState.CLOSED
