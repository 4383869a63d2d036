"""A Session = handshake + record layer, driven in memory exactly as a binding drives it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pqiot.reference import cbor
from pqiot.reference.audit import AuditEvent, AuditLog, MemorySink
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.events import ErrorReceived, HandshakeCompleted, HandshakeFailed
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.errors import Alert, ProtocolError
from pqiot.reference.identity import Identity, generate_identity
from pqiot.reference.keystore import KeyStore
from pqiot.reference.records.layer import KeyUpdateCompleted
from pqiot.reference.session import (
    KIND_HANDSHAKE,
    KIND_RECORD,
    ApplicationData,
    PayloadDropped,
    Session,
    SessionState,
)
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.suites import DEFAULT_SUITE, METHOD_SIGNATURE


@dataclass
class Pair:
    initiator: Session
    responder: Session
    audit_i: MemorySink
    audit_r: MemorySink


def _identity(subject: str, seed: bytes) -> Identity:
    return generate_identity("ML-DSA-44", subject=subject, rng=ShakeRng(seed))


def make_pair(
    *,
    initiator_suites: tuple[int, ...] = (DEFAULT_SUITE,),
    responder_suites: tuple[int, ...] = (DEFAULT_SUITE,),
    by_value: bool = False,
    tofu: bool = False,
) -> Pair:
    alice, bob = _identity("initiator", b"alice"), _identity("responder", b"bob")
    sinks = MemorySink(), MemorySink()
    sessions = []
    for role, me, peer, suites, sink, seed in (
        ("initiator", alice, bob, initiator_suites, sinks[0], b"rng-i"),
        ("responder", bob, alice, responder_suites, sinks[1], b"rng-r"),
    ):
        provider = SoftwareSecurityProvider()
        audit = AuditLog(sink, clock=None)
        store = KeyStore(tofu=tofu, audit=audit)
        if not by_value:
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


def shuttle(pair: Pair, now: float = 1.0, rounds: int = 10) -> None:
    for _ in range(rounds):
        moved = False
        for payload in pair.initiator.data_to_send():
            pair.responder.receive(payload, now)
            moved = True
        for payload in pair.responder.data_to_send():
            pair.initiator.receive(payload, now)
            moved = True
        if not moved:
            return


def events(session: Session) -> list[object]:
    out: list[object] = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


def established_pair(**kwargs: object) -> Pair:
    pair = make_pair(**kwargs)  # type: ignore[arg-type]
    pair.initiator.start(0.0)
    pair.responder.start(0.0)
    shuttle(pair)
    assert pair.initiator.state is SessionState.ESTABLISHED
    assert pair.responder.state is SessionState.ESTABLISHED
    return pair


def test_handshake_then_application_data_both_ways() -> None:
    pair = established_pair()
    completed = [e for e in events(pair.initiator) if isinstance(e, HandshakeCompleted)]
    assert completed and completed[0].suite_id == DEFAULT_SUITE
    events(pair.responder)
    pair.initiator.send(b"ping", 2.0)
    shuttle(pair)
    assert ApplicationData(b"ping") in events(pair.responder)
    pair.responder.send(b"pong", 2.0)
    shuttle(pair)
    assert ApplicationData(b"pong") in events(pair.initiator)


def test_every_payload_carries_its_kind_byte() -> None:
    pair = make_pair()
    pair.initiator.start(0.0)
    first = pair.initiator.data_to_send()
    assert [p[0] for p in first] == [KIND_HANDSHAKE]
    for payload in first:
        pair.responder.receive(payload, 0.0)
    shuttle(pair)
    pair.initiator.send(b"x", 1.0)
    assert [p[0] for p in pair.initiator.data_to_send()] == [KIND_RECORD]


def test_replayed_record_is_dropped_and_audited() -> None:
    """REQ-REPLAY: a record seen once is never delivered twice."""
    pair = established_pair()
    events(pair.responder)
    pair.initiator.send(b"once", 2.0)
    (record,) = pair.initiator.data_to_send()
    pair.responder.receive(record, 2.0)
    pair.responder.receive(record, 2.5)
    seen = events(pair.responder)
    assert seen.count(ApplicationData(b"once")) == 1
    drops = [e for e in seen if isinstance(e, PayloadDropped)]
    assert [d.alert for d in drops] == [Alert.REPLAY_DETECTED]
    assert pair.audit_r.events(AuditEvent.REPLAY_DROPPED)


def test_tampered_record_is_dropped_session_survives() -> None:
    pair = established_pair()
    events(pair.responder)
    pair.initiator.send(b"secret", 2.0)
    (record,) = pair.initiator.data_to_send()
    tampered = record[:-1] + bytes([record[-1] ^ 1])
    pair.responder.receive(tampered, 2.0)
    assert [e.alert for e in events(pair.responder) if isinstance(e, PayloadDropped)] == [
        Alert.DECRYPT_FAILED
    ]
    pair.responder.receive(record, 2.1)
    assert ApplicationData(b"secret") in events(pair.responder)


def test_record_before_handshake_and_unknown_kind_are_dropped() -> None:
    pair = make_pair()
    pair.responder.receive(bytes([KIND_RECORD]) + b"\x00" * 20, 0.0)
    pair.responder.receive(b"\x09abc", 0.0)
    pair.responder.receive(b"", 0.0)
    alerts = [e.alert for e in events(pair.responder) if isinstance(e, PayloadDropped)]
    assert alerts == [Alert.UNEXPECTED_MESSAGE, Alert.DECODE_ERROR, Alert.DECODE_ERROR]
    assert pair.responder.state is SessionState.HANDSHAKING


def test_key_update_keeps_data_flowing_and_is_audited() -> None:
    pair = established_pair()
    pair.initiator.update_keys(3.0)
    shuttle(pair, now=3.0)
    pair.initiator.send(b"after rekey", 4.0)
    pair.responder.send(b"reply", 4.0)
    shuttle(pair, now=4.0)
    assert ApplicationData(b"after rekey") in events(pair.responder)
    seen_i = events(pair.initiator)
    assert ApplicationData(b"reply") in seen_i
    assert any(isinstance(e, KeyUpdateCompleted) for e in seen_i)
    assert pair.initiator.records is not None and pair.initiator.records.epoch == 1
    assert pair.audit_i.events(AuditEvent.REKEY)


def test_suite_negotiation_retries_on_the_same_session() -> None:
    """REQ-HS: ERR_CODE 2 with SUITES_R, then a retried message_1 on the same binding."""
    pair = make_pair(initiator_suites=(-103, DEFAULT_SUITE), responder_suites=(DEFAULT_SUITE,))
    pair.initiator.start(0.0)
    shuttle(pair)
    assert pair.initiator.state is SessionState.ESTABLISHED
    assert pair.responder.state is SessionState.ESTABLISHED
    result = pair.responder.handshake_result
    assert result is not None and result.suite_id == DEFAULT_SUITE


def test_tofu_pins_by_value_credential_and_audits_it() -> None:
    pair = established_pair(by_value=True, tofu=True)
    assert pair.audit_r.events(AuditEvent.TOFU_ACCEPT)
    assert pair.audit_i.events(AuditEvent.TOFU_ACCEPT)


def test_by_value_credential_without_tofu_fails_the_handshake() -> None:
    pair = make_pair(by_value=True, tofu=False)
    pair.initiator.start(0.0)
    shuttle(pair)
    # The initiator meets the responder's by-value credential first (message_2),
    # refuses it, and tells the responder with an EDHOC error message.
    assert pair.initiator.state is SessionState.FAILED
    failures = [e for e in events(pair.initiator) if isinstance(e, HandshakeFailed)]
    assert failures and failures[0].alert is Alert.TOFU_DISABLED
    assert pair.audit_i.events(AuditEvent.AUTH_FAILED)
    assert pair.responder.state is SessionState.FAILED


def test_handshake_timeout() -> None:
    pair = make_pair()
    pair.initiator.start(0.0)
    deadline = pair.initiator.timer_deadline
    assert deadline is not None
    pair.initiator.handle_timer(deadline + 0.1)
    assert pair.initiator.state is SessionState.FAILED


def test_send_before_established_is_refused() -> None:
    pair = make_pair()
    with pytest.raises(Exception, match="not established"):
        pair.initiator.send(b"early", 0.0)


def test_close_reaches_the_peer() -> None:
    pair = established_pair()
    pair.initiator.close(5.0)
    shuttle(pair, now=5.0)
    assert pair.initiator.state is SessionState.CLOSED
    assert pair.responder.state is SessionState.CLOSED


# -- an EDHOC error after DONE (REQ-HS-022, REQ-ERR-005, spec §5.11) ---------------


def _handshake_payload(*items: object) -> bytes:
    return bytes([KIND_HANDSHAKE]) + cbor.encode_sequence(*items)  # type: ignore[arg-type]


@pytest.mark.parametrize("side", ["initiator", "responder"])
def test_error_message_in_done_discards_the_session_and_sends_nothing(side: str) -> None:
    """DONE + error: FAILED, every key discarded, audited with the peer's code and text."""
    pair = established_pair()
    session = pair.initiator if side == "initiator" else pair.responder
    sink = pair.audit_i if side == "initiator" else pair.audit_r
    events(session)
    session.receive(_handshake_payload(1, "authentication_failed"), 2.0)
    assert session.data_to_send() == []
    assert session.state is SessionState.FAILED
    assert ErrorReceived(1, "authentication_failed") in events(session)
    assert session.records is None and session.handshake_result is None
    with pytest.raises(ProtocolError):
        session.send(b"after the error", 3.0)
    # §10.2: a received authentication_failed is audited as auth_failed (REQ-ERR-006).
    failed = sink.events(AuditEvent.AUTH_FAILED)
    assert [f["detail"] for f in failed] == [
        {
            "alert": "authentication_failed",
            "stage": "message_3" if side == "initiator" else "message_2",
            "origin": "peer",
            "err_code": 1,
        }
    ]


def test_malformed_error_in_done_is_a_silent_decode_error() -> None:
    """REQ-HS-023: ERR_CODE 0 is malformed; still no answer, the session is discarded."""
    pair = established_pair()
    events(pair.initiator)
    pair.initiator.receive(_handshake_payload(0, "unspecified_error"), 2.0)
    assert pair.initiator.data_to_send() == []
    assert pair.initiator.state is SessionState.FAILED
    failed = [e for e in events(pair.initiator) if isinstance(e, HandshakeFailed)]
    assert [f.alert for f in failed] == [Alert.DECODE_ERROR]


def test_other_handshake_input_in_done_is_dropped_and_the_session_survives() -> None:
    pair = established_pair()
    events(pair.responder)
    pair.responder.receive(bytes([KIND_HANDSHAKE]) + b"\x43abc", 2.0)  # a byte string
    assert pair.responder.state is SessionState.ESTABLISHED
    assert PayloadDropped(
        Alert.UNEXPECTED_MESSAGE, "handshake message after the handshake ended"
    ) in events(pair.responder)
