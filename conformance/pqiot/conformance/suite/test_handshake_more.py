"""More handshake rules: key freshness, negotiation limits, message_1 in TH_2, the WAIT_M3
bound, credential shape, unknown alert names, exporter labels, and untrusted input.

Like :mod:`test_handshake_rules`, every fault reaches the device the way a peer
would send it (SESSION_DELIVER / APP_RECEIVE feed the production parsers,
REQ-TAP-020), and a sanity handshake runs before and after each conversation.
Forged messages come from the traced reference (:mod:`pqiot.conformance.handshake_probes`),
so the device meets exactly the fault under test.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pqiot.conformance.conversation import (
    error_message,
    expect_status,
    provision,
    run_handshake,
    start_session,
)
from pqiot.conformance.device import Device
from pqiot.conformance.handshake_probes import (
    ALERT_NAMES,
    Outcome,
    TracedPeer,
    alert_in_err_info,
    attempt,
    deliver,
    device_initiator,
    device_responder,
    initiator_peer_for,
    reencrypt_message_2,
    reseal_message_3,
    responder_peer_for,
    signing_with_its_own_algorithm,
)
from pqiot.conformance.peer import Party, ReferencePeer, ml_dsa_65_party, suite_parties
from pqiot.conformance.record_probes import session_keys
from pqiot.fuzz.byte_mutator import make_byte_mutator
from pqiot.fuzz.dictionaries import dictionary
from pqiot.fuzz.mutator import mutate_cbor
from pqiot.hil.client import StatusError
from pqiot.hil.verdict import Blocked
from pqiot.reference import cbor
from pqiot.reference import suites as registry
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.key_schedule import KeySchedule
from pqiot.reference.edhoc.wire import EadItem
from pqiot.reference.tap.codes import Command, Status

pytestmark = pytest.mark.conversation
SUITE = -102
CLOSE = 4  # content type of a close record (§7.2)


def _needs_role(device: Device, role: str) -> None:
    if role not in device.statement.roles:
        pytest.skip(f"not applicable: role {role} not declared")


def _error(code: int, info: CborValue) -> bytes:
    return cbor.encode_sequence(code, info)


def _g_x(message_1: bytes) -> bytes:
    g_x = cbor.decode_sequence(message_1)[2]
    assert isinstance(g_x, bytes), f"G_X is not a byte string: {g_x!r}"
    return g_x


def _assert_aborted_silently(outcome: Outcome, alert: str, what: str) -> None:
    """Status 7 naming ``alert``, nothing on the wire, state FAILED (REQ-HS-022)."""
    assert (outcome.status, outcome.alert) == (Status.PROTOCOL_ALERT, alert), (
        f"{what}: expected the session to abort with {alert}, got {outcome.summary()}"
    )
    assert outcome.out == [], f"{what}: nothing may be sent, got {outcome.summary()}"
    assert outcome.state == "FAILED", f"{what}: state {outcome.state!r}, expected FAILED"


def _assert_error_sent(outcome: Outcome, alert: str, what: str) -> None:
    """Status 7 naming ``alert`` and exactly one ERR_CODE 1 error naming it (REQ-HS-021)."""
    assert (outcome.status, outcome.alert) == (Status.PROTOCOL_ALERT, alert), (
        f"{what}: expected alert {alert}, got {outcome.summary()}"
    )
    code, info = error_message(outcome.out)
    assert code == 1 and alert_in_err_info(info) == alert, (
        f"{what}: expected ERR_CODE 1 naming {alert}, got ({code}, {info!r})"
    )


# -- REQ-SUITE-006: a fresh ML-KEM key pair for every message_1 -----------------------------

#: message_1s drawn per freshness test; sessions are closed one by one, so any table fits.
FRESHNESS_SESSIONS = 6


def _own_randomness_message_1(device: Device, kid: bytes, suites: list[int]) -> tuple[int, bytes]:
    """SESSION_START as Initiator *without* kem_seed: the device's own RNG makes G_X.

    A device that needs the host's ``kem_seed`` (§13.5 lets a test build take it) has no
    RNG path of its own to test: freshness of host-supplied seeds proves nothing about it.
    """
    try:
        session, out = device.client.session_start("initiator", 0, suites, cred=kid)
    except StatusError as exc:
        if exc.status in (Status.UNSUPPORTED, Status.MALFORMED):
            pytest.skip(
                "the device generates no ephemeral key of its own (SESSION_START without "
                f"kem_seed refused: {exc}); REQ-SUITE-006 stays untested"
            )
        raise
    assert len(out) == 1, f"SESSION_START as initiator must emit message_1, got {len(out)}"
    return session, bytes(out[0])


@pytest.mark.requirement("REQ-SUITE-006")
def test_every_message_1_carries_a_fresh_ml_kem_key(
    device: Device, evidence: dict[str, Any]
) -> None:
    """Six message_1 from the device's own RNG, and a retried one if the device retries.

    REQ-SUITE-006 covers every message_1 an Initiator sends. The retried message_1
    after ERR_CODE 2 exists only on an Initiator that uses the optional retry of
    REQ-HS-029 (MAY); on one that aborts instead there is no such message to be
    fresh, and the requirement is met by the other message_1s alone. The evidence
    records which case the device was.
    """
    _needs_role(device, "initiator")
    kid, _ = provision(device, SUITE, "initiator")
    seen: list[bytes] = []
    for _ in range(FRESHNESS_SESSIONS):
        session, message_1 = _own_randomness_message_1(device, kid, [SUITE])
        seen.append(_g_x(message_1))
        device.client.session_close(session)
    assert len(set(seen)) == len(seen), (
        f"REQ-SUITE-006: {len(seen) - len(set(seen))} of {len(seen)} message_1 repeated an "
        "ML-KEM encapsulation key of an earlier session"
    )
    assert all(len(g_x) == 1184 for g_x in seen), "G_X of -102 is an ML-KEM-768 key (1184 B)"
    other = next((s for s in device.statement.suites if s != SUITE), None)
    if other is None:
        evidence["retry"] = "not exercised: one suite declared, no ERR_CODE 2 retry possible"
        return
    session, first = _own_randomness_message_1(device, kid, [other, SUITE])
    outcome = deliver(device, session, _error(2, SUITE))
    if outcome.status == Status.PROTOCOL_ALERT and outcome.out == []:
        evidence["retry"] = "the device does not use the optional retry (REQ-HS-029 MAY)"
        return
    assert outcome.status == 0 and len(outcome.out) == 1, (
        f"after ERR_CODE 2 expected one new message_1 or an abort, got {outcome.summary()}"
    )
    retried = _g_x(outcome.out[0])
    assert retried not in [*seen, _g_x(first)], (
        "REQ-SUITE-006: the message_1 retried after ERR_CODE 2 reuses an earlier G_X"
    )
    evidence["retry"] = "the retried message_1 carried a fresh G_X"


# -- REQ-HS-030: a second ERR_CODE 2 ends the attempt -------------------------------------


#: The feature name proposed for §14.2: the Initiator uses the optional retry of REQ-HS-029.
RETRY_FEATURE = "suite-retry"


@pytest.mark.requirement("REQ-HS-030")
def test_second_err_code_2_aborts_without_a_third_message_1(device: Device) -> None:
    """Two declared suites [a, b]: ERR_CODE 2 names b (retry with [a, b]), then names a.

    The second ERR_CODE 2 offers a suite the device has enabled, so only REQ-HS-030
    stops it from retrying again. Applicable only to a device that retries at all
    (REQ-HS-029 is a MAY); one that aborts on the first ERR_CODE 2 never receives a
    second, and the test is skipped, leaving the requirement untested.
    """
    _needs_role(device, "initiator")
    suites = list(device.statement.suites)[:2]
    if len(suites) < 2:
        pytest.skip("not applicable: one suite declared, ERR_CODE 2 cannot name another")
    preferred, fallback = suites
    session, first = device_initiator(device, preferred, suites=[preferred, fallback])
    assert cbor.decode_sequence(first)[1] == preferred, "first message_1 selects the first suite"
    outcome = deliver(device, session, _error(2, fallback))
    if outcome.status == Status.PROTOCOL_ALERT and outcome.out == []:
        assert not device.declares("features", RETRY_FEATURE), (
            f"the device declares {RETRY_FEATURE!r} but did not retry after ERR_CODE 2 "
            f"naming its suite {fallback}: {outcome.summary()}"
        )
        pytest.skip(
            "not applicable: the device does not use the optional retry of REQ-HS-029 "
            f"({outcome.summary()}), so it never receives a second ERR_CODE 2"
        )
    assert outcome.status == 0 and len(outcome.out) == 1, outcome.summary()
    retried = cbor.decode_sequence(outcome.out[0])
    assert retried[1] == [preferred, fallback], f"retried SUITES_I {retried[1]!r}"
    second = deliver(device, session, _error(2, [preferred, fallback]))
    _assert_aborted_silently(second, "wrong_selected_cipher_suite", "a second ERR_CODE 2")


# -- REQ-HS-032: the whole message_1 enters TH_2 ------------------------------------------


@pytest.mark.requirement("REQ-HS-032", "REQ-KEYS-004")
def test_responder_hashes_message_1_with_every_suite_and_ead_item(device: Device) -> None:
    """message_1 with SUITES_I [-105, -102] and an EAD_1 padding item completes the handshake.

    The reference Initiator signs and MACs over TH_2 = H(G_Y, H(message_1)) of its
    own bytes; a device Responder that hashed a re-encoded or partial message_1
    (the selected suite alone, without EAD_1) would produce a message_2 the
    reference rejects. The first suite is one this session has not enabled, so the
    device first answers ERR_CODE 2 and the reference retries with the longer SUITES_I.
    """
    _needs_role(device, "responder")
    kid, tester = provision(device, SUITE, "responder")
    peer = TracedPeer(
        "initiator",
        [-105, SUITE],
        tester,
        [suite_parties(SUITE)["responder"].credential],
        ead=[EadItem(0, b"conformance padding")],
    )
    session, _ = start_session(device, "responder", [SUITE], cred=kid)
    refusal = deliver(device, session, peer.handshake_out()[0])
    assert refusal.status == Status.PROTOCOL_ALERT, refusal.summary()
    assert error_message(refusal.out) == (2, SUITE), f"expected ERR_CODE 2 -102: {refusal.out!r}"
    device.client.session_close(session)
    message_1 = peer.deliver(refusal.out[0])
    assert len(message_1) == 1, "the reference did not retry after ERR_CODE 2"
    items = cbor.decode_sequence(message_1[0])
    assert items[1] == [-105, SUITE] and items[4:] == [0, b"conformance padding"], items[1:2]
    session, _ = start_session(device, "responder", [SUITE], cred=kid)
    out, _ = device.client.session_deliver(session, message_1[0])
    reply = peer.deliver(bytes(out[0]))
    assert reply, "the reference rejected the device's message_2: TH_2 differs from H(...)"
    _, state = device.client.session_deliver(session, reply[0])
    assert state == "DONE" and peer.established, f"handshake did not complete: {state}"


def _path_changes() -> list[Any]:
    def more_suites(items: list[CborValue]) -> None:
        items[1] = [-106, items[1]]

    def padding(items: list[CborValue]) -> None:
        items[4:] = [0, b"added on the path"]

    return [
        pytest.param(more_suites, id="suites_i-extended"),
        pytest.param(padding, id="ead_1-padding-added"),
    ]


@pytest.mark.requirement("REQ-HS-032", "REQ-HS-010", "REQ-HS-021")
@pytest.mark.parametrize("change", _path_changes())
def test_initiator_detects_message_1_changed_on_the_path(
    device: Device, change: Callable[[list[CborValue]], None]
) -> None:
    """A message_1 altered between the device and the Responder: signature check fails.

    The reference Responder answers the *altered* message_1, so it signs TH_2 over
    bytes the device never sent. The tester re-encrypts that PLAINTEXT_2 under the
    keystream of the device's own TH_2 (same G_Y and PRK_2e), so the device decrypts
    it and meets exactly the signature check: `authentication_failed`. METHOD is not
    changed here: with a KEM suite every other METHOD makes a conforming Responder
    refuse message_1 (REQ-SUITE-013), so there is no message_2 to check.
    """
    _needs_role(device, "initiator")
    session, message_1 = device_initiator(device, SUITE)
    items = cbor.decode_sequence(message_1)
    change(items)
    altered = cbor.encode_sequence(*items)
    seed = os.urandom(32)
    honest = responder_peer_for(SUITE, rng=ShakeRng(seed))
    fooled = responder_peer_for(SUITE, rng=ShakeRng(seed))
    honest.deliver(message_1)
    fooled.deliver(altered)
    assert fooled.trace["G_Y"] == honest.trace["G_Y"], "both responders must encapsulate alike"
    schedule = KeySchedule(registry.get(SUITE).hash())
    assert honest.trace["TH_2"] == schedule.th_2(honest.trace["G_Y"], message_1)
    assert fooled.trace["TH_2"] != honest.trace["TH_2"]
    forged = reencrypt_message_2(honest.trace, SUITE, fooled.trace["PLAINTEXT_2"])
    _assert_error_sent(
        deliver(device, session, forged),
        "authentication_failed",
        "message_2 signed over a message_1 changed on the path",
    )


# -- REQ-HS-036: the WAIT_M3 bound ---------------------------------------------------------

WAIT_M3_BOUND = 8  # the default of REQ-HS-036


@pytest.mark.requirement("REQ-HS-036")
def test_ninth_pending_message_1_is_answered_busy_and_leaves_no_state(device: Device) -> None:
    """Eight sessions in WAIT_M3 are held; the ninth message_1 gets `unspecified_error: busy`.

    "No state" is checked by its consequences: the refused session is FAILED with
    nothing more to send, a waiting one still completes afterwards, and once it has,
    a new message_1 is accepted again (the bound counts WAIT_M3 only).
    """
    _needs_role(device, "responder")
    kid, _ = provision(device, SUITE, "responder")
    waiting: list[tuple[int, ReferencePeer, bytes]] = []
    for _ in range(WAIT_M3_BOUND):
        try:
            session, _ = start_session(device, "responder", [SUITE], cred=kid)
        except StatusError as exc:
            if exc.status == Status.BUSY:
                pytest.skip(
                    f"the device's TAP session table holds {len(waiting)} sessions, fewer than "
                    f"the default bound + 1 ({WAIT_M3_BOUND + 1}); the busy answer is not "
                    "reachable through TAP"
                )
            raise
        peer = initiator_peer_for(SUITE)
        outcome = deliver(device, session, peer.handshake_out()[0])
        assert (outcome.status, outcome.state) == (0, "WAIT_M3"), (
            f"message_1 number {len(waiting) + 1} of {WAIT_M3_BOUND} (below the default bound) "
            f"was refused: {outcome.summary()}"
        )
        waiting.append((session, peer, outcome.out[0]))
    try:
        extra, _ = start_session(device, "responder", [SUITE], cred=kid)
    except StatusError as exc:
        if exc.status == Status.BUSY:
            pytest.skip(
                f"the TAP session table is full at {WAIT_M3_BOUND} sessions; the ninth "
                "message_1 cannot reach the device"
            )
        raise
    busy = deliver(device, extra, initiator_peer_for(SUITE).handshake_out()[0])
    assert (busy.status, busy.alert, busy.state) == (
        Status.PROTOCOL_ALERT,
        "unspecified_error",
        "FAILED",
    ), f"message_1 beyond the bound of {WAIT_M3_BOUND}: {busy.summary()}"
    assert error_message(busy.out) == (1, "unspecified_error: busy"), busy.out
    device.client.session_close(extra)
    session, first, message_2 = waiting.pop(0)
    _, state = device.client.session_deliver(session, first.deliver(message_2)[0])
    assert state == "DONE", f"a waiting session did not complete after the busy answer: {state}"
    device.client.session_close(session)
    again, _ = start_session(device, "responder", [SUITE], cred=kid)
    accepted = deliver(device, again, initiator_peer_for(SUITE).handshake_out()[0])
    assert (accepted.status, accepted.state) == (0, "WAIT_M3"), (
        f"with {len(waiting)} sessions in WAIT_M3 a new message_1 must be accepted: "
        f"{accepted.summary()}"
    )
    for session in [again, *(waiting_session for waiting_session, _, _ in waiting)]:
        device.client.session_close(session)


# -- REQ-CRED-002: AKP COSE_Key with kid, alg, pub; alg = the suite's -------------------------


def _ccs_map(party: Party) -> dict[CborValue, Any]:
    value = cbor.decode(party.credential.cred)
    assert isinstance(value, dict)
    return value


def _load_peer(device: Device, device_role: str, ccs: bytes) -> bytes:
    """RESET, own -102 credential, then ``ccs`` as the allow-listed peer; own kid."""
    mine = suite_parties(SUITE)[device_role]
    device.client.reset("all")
    kid = device.client.cred_load("own", ccs=mine.credential.cred, sk=mine.private_key)
    device.client.cred_load("peer", ccs=ccs)
    return kid


@pytest.mark.requirement("REQ-CRED-002", "REQ-HS-010", "REQ-HS-014")
@pytest.mark.parametrize("id_cred", ["kid", "value"])
def test_stored_ml_dsa_65_key_is_refused_in_a_ml_dsa_44_suite(
    device: Device, device_role: str, id_cred: str
) -> None:
    """An allow-listed ML-DSA-65 peer that signs correctly in -102: authentication_failed.

    By kid (the stored credential) and by value (the same CCS in ID_CRED_x, so trust
    does not decide: it is the stored credential). The device must compare the
    credential's alg with the suite's, not just verify with whatever key it finds.
    """
    tester_role = "initiator" if device_role == "responder" else "responder"
    other = ml_dsa_65_party(tester_role)
    if id_cred == "value":
        # PLAINTEXT_x: CCS + ML-DSA-65 signature; message_2 adds G_Y (ML-KEM-768 ciphertext)
        size = len(other.credential.cred) + 3309 + (1088 if device_role == "initiator" else 0)
        if size > device.limit("max_hs_message", 16384):
            pytest.skip(
                f"a message carrying an ML-DSA-65 CCS and signature (over {size} bytes) exceeds "
                "the device's max_hs_message; its -102 peers never send one (REQ-HS-026)"
            )
    kid = _load_peer(device, device_role, other.credential.cred)
    mine = suite_parties(SUITE)[device_role].credential
    peer = signing_with_its_own_algorithm(
        TracedPeer(tester_role, [SUITE], other, [mine], by_value=id_cred == "value")
    )
    session, out = start_session(device, device_role, [SUITE], cred=kid)
    if device_role == "responder":
        reply, _ = device.client.session_deliver(session, peer.handshake_out()[0])
        message = peer.deliver(bytes(reply[0]))[0]
    else:
        message = peer.deliver(bytes(out[0]))[0]
    _assert_error_sent(
        deliver(device, session, message),
        "authentication_failed",
        f"ML-DSA-65 credential (by {id_cred}) in suite -102",
    )


def _broken_keys() -> dict[str, bytes]:
    """CCSs whose COSE_Key is not AKP with kid, alg and pub (the tester's -102 initiator key)."""
    edits: dict[str, Callable[[dict[CborValue, Any]], object]] = {
        "kid missing": lambda key: key.pop(2),
        "alg missing": lambda key: key.pop(3),
        "pub missing": lambda key: key.pop(-1),
        "kty EC2": lambda key: key.update({1: 2}),
        "kty Symmetric": lambda key: key.update({1: 4}),
    }
    broken = {}
    for name, edit in edits.items():
        ccs = _ccs_map(suite_parties(SUITE)["initiator"])
        edit(ccs[8][1])
        broken[name] = cbor.encode(ccs)
    return broken


@pytest.mark.requirement("REQ-CRED-002", "REQ-CRED-001")
def test_credential_without_an_akp_kid_alg_pub_key_is_refused(device: Device) -> None:
    """Such a CCS is neither stored (CRED_LOAD refused) nor accepted by value in message_3.

    Five shapes: kid, alg or pub missing; kty EC2 or Symmetric with the AKP fields.
    By value each is refused with `decode_error`: §4.3 reads REQ-CRED-002's
    `authentication_failed` as the answer to a complete AKP key of the wrong alg;
    a key without kid, alg or pub, or not of kty AKP, is not a usable COSE_Key
    (REQ-CRED-001). The reference does the same (``parse_ccs``).
    """
    _needs_role(device, "responder")
    for name, ccs in _broken_keys().items():
        device.client.reset("all")
        expect_status(
            partial(device.client.cred_load, "peer", ccs=ccs),
            {Status.MALFORMED, Status.INVALID_INPUT},
            f"CRED_LOAD of a peer credential with {name}",
        )
        session, _ = device_responder(device, SUITE)
        peer = initiator_peer_for(SUITE)
        out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
        peer.deliver(bytes(out[0]))
        signature = cbor.encode(peer.trace["Signature_or_MAC_3"])
        message_3 = reseal_message_3(peer.trace, SUITE, b"\xa1\x0e" + ccs + signature)
        outcome = deliver(device, session, message_3)
        _assert_error_sent(outcome, "decode_error", f"ID_CRED_I {{14: CCS with {name}}}")


# -- REQ-ERR-002: an unknown alert name is unspecified_error; details are ignored ----------


def _audit_alerts(device: Device) -> list[str] | None:
    """detail.alert of every buffered audit event that has one; None without AUDIT_READ."""
    if not device.declares("commands", int(Command.AUDIT_READ)):
        return None
    alerts = []
    for line in device.client.audit_read_all().events:
        detail = json.loads(line).get("detail", {})
        if "alert" in detail:
            alerts.append(str(detail["alert"]))
    return alerts


#: ERR_INFO -> the alert the receiver must act on.
_ERR_INFOS = {
    "no_such_alert": "unspecified_error",
    "no_such_alert: authentication_failed": "unspecified_error",
    "Decode_Error": "unspecified_error",
    "decode_error: unspecified_error: busy": "decode_error",
}


@pytest.mark.requirement("REQ-ERR-002", "REQ-HS-022")
def test_err_info_alert_name_outside_the_fourteen_is_unspecified_error(
    device: Device, device_role: str
) -> None:
    """The alert the device reports (status 7, and the audit event where readable).

    An unknown name, a known name only in the detail, a name in the wrong case,
    and a known name whose detail names others: the detail never decides.
    """
    for info, alert in _ERR_INFOS.items():
        if device_role == "initiator":
            session, _ = device_initiator(device, SUITE)
        else:
            session, _ = device_responder(device, SUITE)
            peer = initiator_peer_for(SUITE)
            device.client.session_deliver(session, peer.handshake_out()[0])
        _audit_alerts(device)
        outcome = deliver(device, session, _error(1, info))
        _assert_aborted_silently(outcome, alert, f"ERR_CODE 1 {info!r}")
        audited = _audit_alerts(device)
        if audited is not None:
            assert audited == [alert], f"audit events for ERR_INFO {info!r} name {audited}"


#: Close body text -> the alert the receiver must act on.
_CLOSE_BODIES = {
    "no_such_alert": "unspecified_error",
    "no_such_alert: decrypt_failed": "unspecified_error",
    "internal_error: unspecified_error": "internal_error",
}


@pytest.mark.requirement("REQ-ERR-002", "REQ-REC-007")
def test_close_body_alert_name_outside_the_fourteen_is_unspecified_error(device: Device) -> None:
    """A close record from the peer: the alert reported (status 7) or audited ignores the detail.

    A device that reports a close as content type 4 without its alert, and has no
    AUDIT_READ, shows nothing to check: the test is then skipped.
    """
    role = "responder" if "responder" in device.statement.roles else "initiator"
    for body, alert in _CLOSE_BODIES.items():
        run = run_handshake(device, SUITE, role)
        keys = session_keys(run)
        record = keys.tester.seal(0, bytes([CLOSE]) + cbor.encode(body))
        _audit_alerts(device)
        outcome = attempt(partial(device.client.app_receive, run.session, record))
        assert outcome.out == [], f"nothing may answer a close, got {outcome.summary()}"
        audited = _audit_alerts(device)
        if outcome.status == Status.PROTOCOL_ALERT:
            assert outcome.alert == alert, f"close body {body!r}: {outcome.summary()}"
        else:
            assert outcome.status == 0, outcome.summary()
            if audited is None:
                pytest.skip("the close was reported without its alert and AUDIT_READ is absent")
        if audited is not None:
            assert alert in audited, f"close body {body!r}: audit events name {audited}"


# -- REQ-KEYS-008: labels 0-3 only for their purposes ---------------------------------------


@pytest.mark.requirement("REQ-KEYS-008", "REQ-KEYS-011")
def test_exporter_labels_0_and_1_key_the_records(device: Device, device_role: str) -> None:
    """The observable part of REQ-KEYS-008: labels 0 and 1 serve exactly their §6.4 purpose,
    the OSCORE Master Secret and Master Salt that key the device's records.

    The device's record is decrypted with keys derived here (§6.6, plain HKDF) from
    EXPORT(0) and EXPORT(1); a private-use label gives another value. Whether an
    application uses labels 0-3 elsewhere is a property of its code that no test can
    see.
    """
    run = run_handshake(device, SUITE, device_role)
    secret = device.client.export(run.session, 0, b"", 32)
    salt = device.client.export(run.session, 1, b"", 8)
    assert secret == run.peer.exporter(0, b"", 32) and salt == run.peer.exporter(1, b"", 8)
    assert device.client.export(run.session, 32768, b"", 32) != secret
    record = device.client.app_send(run.session, b"label 0 and 1")[0]
    option = record[1 : 1 + record[0]]
    flags, ciphertext = option[0], record[1 + record[0] :]
    piv, sender_id = option[1 : 1 + (flags & 7)], option[1 + (flags & 7) :]
    key = _hkdf(salt, secret, cbor.encode([sender_id, None, 3, "Key", 32]), 32)
    common_iv = _hkdf(salt, secret, cbor.encode([b"", None, 3, "IV", 12]), 12)
    padded = bytes([len(sender_id)]) + sender_id.rjust(6, b"\0") + piv.rjust(5, b"\0")
    nonce = bytes(a ^ b for a, b in zip(padded, common_iv, strict=True))
    aad = cbor.encode(["Encrypt0", b"", cbor.encode([1, [3], sender_id, piv, b"", b""])])
    assert AESGCM(key).decrypt(nonce, ciphertext, aad) == b"\x01label 0 and 1"


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SHA-256, independent of the reference."""
    import hashlib
    import hmac

    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm, counter = okm + block, counter + 1
    return okm[:length]


# -- REQ-GEN-002: untrusted input -------------------------------------------------------------

#: Input count and wall-clock cap by target speed: native and in-process agents answer in
#: microseconds, an emulated Cortex-M4 signs a message_2 in about a second.
FUZZ_BUDGET = {"fast": (400, 8.0), "slow": (40, 8.0)}
#: Relative frequency of each way in; message_3 costs the device a signature per input.
FUZZ_WEIGHTS = {"message_1": 4, "message_2": 3, "message_3": 1, "record": 4}
ALIVE_EVERY = 25


def _speed(device: Device) -> str:
    return "fast" if device.description.get("kind") in ("in-process", "host") else "slow"


class _FuzzBase:
    """One recorded conversation with fixed device randomness (REQ-TAP-014), so the same
    SESSION_START arguments make the device repeat its messages and every mutated message
    meets a session that expects the original."""

    def __init__(self, device: Device) -> None:
        self.device = device
        parties = suite_parties(SUITE)
        # One own credential serves both roles (REQ-KS-007 asks one per algorithm).
        mine, tester = parties["initiator"], parties["responder"]
        device.client.reset("all")
        self.kid = device.client.cred_load("own", ccs=mine.credential.cred, sk=mine.private_key)
        device.client.cred_load("peer", ccs=tester.credential.cred)
        self.roles = [r for r in ("responder", "initiator") if r in device.statement.roles]
        self.fixed: dict[str, dict[str, CborValue]] = {
            "responder": {"kem_m": bytes(range(32)), "c_id": b"\x31", "sig_rnd": bytes(32)},
            "initiator": {"kem_seed": bytes(range(64)), "c_id": b"\x32", "sig_rnd": bytes(32)},
        }
        self.messages: dict[str, bytes] = {}
        self.replies: dict[str, bytes] = {}
        self.established: tuple[int, ReferencePeer] | None = None
        if "responder" in self.roles:
            self._record_responder(tester, mine)
        if "initiator" in self.roles:
            self._record_initiator(tester, mine)

    def _record_responder(self, tester: Party, mine: Party) -> None:
        peer = TracedPeer("initiator", [SUITE], tester, [mine.credential], rng=ShakeRng(b"m1"))
        session, _ = self.start("responder")
        message_1 = peer.handshake_out()[0]
        out, _ = self.device.client.session_deliver(session, message_1)
        message_3 = peer.deliver(bytes(out[0]))[0]
        _, state = self.device.client.session_deliver(session, message_3)
        assert state == "DONE" and peer.established, f"fuzz base handshake ended in {state}"
        self.messages["message_1"], self.messages["message_3"] = message_1, message_3
        self.replies["message_1"] = bytes(out[0])
        self.established = (session, peer)
        self.messages["record"] = peer.protect(b"fuzz base record")

    def _record_initiator(self, tester: Party, mine: Party) -> None:
        peer = ReferencePeer("responder", [SUITE], tester, [mine.credential])
        session, out = self.start("initiator")
        self.replies["start"] = bytes(out[0])
        self.messages["message_2"] = peer.deliver(bytes(out[0]))[0]
        self.device.client.session_close(session)

    def start(self, role: str) -> tuple[int, list[bytes]]:
        return start_session(self.device, role, [SUITE], cred=self.kid, **self.fixed[role])

    def kinds(self) -> list[str]:
        return [k for k in FUZZ_WEIGHTS if k in self.messages]

    def send(self, kind: str, data: bytes) -> Outcome:
        """Deliver ``data`` where ``kind`` enters the device; returns what the device said."""
        client = self.device.client
        if kind == "record":
            assert self.established is not None
            session = self.established[0]
            return attempt(lambda: client.app_receive(session, data))
        role = "initiator" if kind == "message_2" else "responder"
        session, out = self.start(role)
        try:
            if kind == "message_3":
                reply, _ = client.session_deliver(session, self.messages["message_1"])
                assert bytes(reply[0]) == self.replies["message_1"], (
                    "REQ-TAP-014: the same kem_m, c_id and sig_rnd gave a different message_2"
                )
            elif kind == "message_2":
                assert bytes(out[0]) == self.replies["start"], (
                    "REQ-TAP-014: the same kem_seed and c_id gave a different message_1"
                )
            return deliver(self.device, session, data)
        finally:
            client.session_close(session)


def _judge(device: Device, kind: str, data: bytes, outcome: Outcome) -> None:
    """Every failure must end in a status or alert its chapter names (REQ-GEN-002)."""
    allowed = {Status.OK, Status.PROTOCOL_ALERT}
    if len(data) > device.limit("max_hs_message", 16384) and kind != "record":
        allowed.add(Status.TOO_LARGE)
    if kind == "record" and len(data) > device.limit("max_record_plaintext", 4096):
        allowed.add(Status.TOO_LARGE)
    assert outcome.status in allowed, f"status {outcome.status} ({outcome.summary()})"
    if outcome.status == Status.PROTOCOL_ALERT:
        assert outcome.alert in ALERT_NAMES, f"alert {outcome.alert!r} is not one of the 14"
    if kind == "record":
        assert outcome.out == [], f"an unauthenticated record was answered: {outcome.summary()}"
        return
    if outcome.status == Status.PROTOCOL_ALERT and outcome.out:
        code, info = error_message(outcome.out)
        assert code in (1, 2, 3), f"the device sent ERR_CODE {code} ({info!r})"


@pytest.mark.requirement("REQ-GEN-002", "REQ-ERR-004", "REQ-ERR-007")
def test_mutated_protocol_input_never_crashes_hangs_or_breaks_the_device(
    device: Device, evidence: dict[str, Any]
) -> None:
    """A bounded structure-aware fuzz conversation through the production parsers.

    Mutations (pqiot.fuzz: CBOR-aware edits, byte edits with the EDHOC/COSE/OSCORE
    dictionary) of a real message_1, message_2, message_3 and record, each delivered
    to a session expecting the original. The device must answer each with a status
    and alert its chapter names, reply to no unauthenticated record, answer ECHO
    every 25 inputs without having been restarted, keep the established session
    usable, and complete the closing sanity handshake. Input count and time cap
    scale with the target: 400 / 8 s on native and in-process agents, 40 / 8 s on
    emulators and boards; the seed is in the evidence for replay.
    """
    count, seconds = FUZZ_BUDGET[_speed(device)]
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    mutate_bytes = make_byte_mutator(rng, dictionary(("cbor", "edhoc", "cose", "oscore")))
    base = _FuzzBase(device)
    kinds = base.kinds()
    weights = [FUZZ_WEIGHTS[k] for k in kinds]
    recoveries = device.client.recoveries
    started = time.monotonic()
    sent: dict[str, int] = dict.fromkeys(kinds, 0)
    done = 0
    while done < count and time.monotonic() - started < seconds:
        kind = rng.choices(kinds, weights)[0]
        data = mutate_cbor(base.messages[kind], 16384, rng.getrandbits(32), mutate_bytes)
        where = f"input {done} ({kind}, seed {seed}, {len(data)} B: {data[:48].hex()}...)"
        try:
            outcome = base.send(kind, data)
            _judge(device, kind, data, outcome)
            if done % ALIVE_EVERY == ALIVE_EVERY - 1:
                assert device.alive(), "ECHO answered wrongly"
        except Blocked as exc:
            raise AssertionError(
                f"REQ-GEN-002: {where} left the device unresponsive: {exc}"
            ) from None
        except AssertionError as exc:
            raise AssertionError(f"REQ-GEN-002: {where}: {exc}") from None
        assert device.client.recoveries == recoveries, f"the device was restarted after {where}"
        sent[kind] += 1
        done += 1
    evidence["fuzz"] = {
        "seed": seed,
        "inputs": done,
        "by_kind": sent,
        "seconds": round(time.monotonic() - started, 2),
        "budget": {"inputs": count, "seconds": seconds},
    }
    assert device.alive(), "REQ-GEN-002: ECHO failed after the fuzz inputs"
    if base.established is not None:
        session, peer = base.established
        content_type, data, _ = device.client.app_receive(session, peer.protect(b"still here"))
        assert (content_type, data) == (1, b"still here"), (
            "REQ-ERR-004: the established session no longer accepts valid records after "
            "mutated ones"
        )
