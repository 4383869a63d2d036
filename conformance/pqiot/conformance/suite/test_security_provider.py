"""The SecurityProvider rules of spec chapter 11 that a tester can observe.

What signs is internal (REQ-SP-001 and the other declaration-verified rules),
but its results are not: the device's Signature_or_MAC_2/3 must verify under
an independent ML-DSA implementation over exactly the Sig_structure bytes
(REQ-SP-002); a key bound to one algorithm must be refused for a suite that
needs another, and the handshake must then end in ``internal_error``
(REQ-SP-003); an own credential whose public key is not the private key's
must be refused with ``internal_error`` before any use (REQ-SP-012).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PublicKey

from pqiot.conformance.conversation import error_message, start_session
from pqiot.conformance.device import Device
from pqiot.conformance.handshake_probes import (
    Outcome,
    alert_in_err_info,
    attempt,
    deliver,
    device_initiator,
    device_responder,
    initiator_peer_for,
    responder_peer_for,
)
from pqiot.conformance.peer import Party, suite_parties
from pqiot.hil.client import StatusError
from pqiot.reference import cbor
from pqiot.reference.credentials import KeyId
from pqiot.reference.tap.codes import Status

pytestmark = pytest.mark.conversation
SUITE = -102  # ML-DSA-44 signatures
#: A Falcon-512 identity (the committed vectors of suite -108): a key of another algorithm.
OTHER_ALG_SUITE = -108


def _needs_role(device: Device, role: str) -> None:
    if role not in device.statement.roles:
        pytest.skip(f"not applicable: role {role} not declared")


def _verify_ml_dsa_44(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """FIPS 204 ML-DSA-44 verification, pure variant, empty context, by OpenSSL through
    pyca/cryptography: an implementation independent of the device and of the reference's
    own signing path."""
    try:
        MLDSA44PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _sig_structure(kid: KeyId, th: bytes, cred: bytes, mac: bytes) -> bytes:
    """COSE Sig_structure ["Signature1", << {4: kid} >>, << TH, CRED >>, MAC] (RFC 9528
    §5.3.2 with no EAD), written out here rather than taken from the reference."""
    return cbor.encode(["Signature1", cbor.encode({4: kid}), cbor.encode(th) + cred, mac])


# -- REQ-SP-002: sign exactly the Sig_structure, no pre-hash ----------------------


@pytest.mark.requirement("REQ-SP-002")
def test_signature_2_verifies_over_the_exact_sig_structure(device: Device) -> None:
    """The device's Signature_or_MAC_2 is pure ML-DSA-44 over the whole Sig_structure."""
    _needs_role(device, "responder")
    session, _ = device_responder(device, SUITE)
    peer = initiator_peer_for(SUITE)
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    assert len(out) == 1, f"expected message_2, got {len(out)} messages"
    peer.deliver(out[0])
    trace = peer.trace
    own = suite_parties(SUITE)["responder"].credential
    payload = _sig_structure(own.kid, trace["TH_2"], own.cred, trace["MAC_2"])
    signature = trace["Signature_or_MAC_2"]
    assert _verify_ml_dsa_44(own.public_key, payload, signature), (
        "Signature_or_MAC_2 does not verify as ML-DSA-44 over the Sig_structure bytes"
    )


@pytest.mark.requirement("REQ-SP-002")
def test_signature_3_verifies_over_the_exact_sig_structure(device: Device) -> None:
    """The device's Signature_or_MAC_3 is pure ML-DSA-44 over the whole Sig_structure."""
    _needs_role(device, "initiator")
    session, message_1 = device_initiator(device, SUITE)
    peer = responder_peer_for(SUITE)
    message_2 = peer.deliver(message_1)[0]
    out, state = device.client.session_deliver(session, message_2)
    assert len(out) == 1 and state == "DONE", f"expected message_3 and DONE, got {state}"
    peer.deliver(out[0])
    trace = peer.trace
    own = suite_parties(SUITE)["initiator"].credential
    payload = _sig_structure(own.kid, trace["TH_3"], own.cred, trace["MAC_3"])
    signature = trace["Signature_or_MAC_3"]
    assert _verify_ml_dsa_44(own.public_key, payload, signature), (
        "Signature_or_MAC_3 does not verify as ML-DSA-44 over the Sig_structure bytes"
    )


# -- REQ-SP-003: a key is bound to one algorithm ----------------------------------


def _load_other_alg_own_key(device: Device, role: str) -> tuple[bytes, Party]:
    """RESET; own key = Falcon-512 (suite -108's identity), peer = the ML-DSA-44 tester."""
    mine = suite_parties(OTHER_ALG_SUITE)[role]
    tester = suite_parties(SUITE)["responder" if role == "initiator" else "initiator"]
    device.client.reset("all")
    try:
        kid = device.client.cred_load("own", ccs=mine.credential.cred, sk=mine.private_key)
    except StatusError as exc:
        if exc.status == Status.UNSUPPORTED:
            pytest.skip(
                "not applicable: the device holds no own key of an algorithm other than its "
                f"suites' (Falcon-512 own key refused: {exc.result})"
            )
        raise
    device.client.cred_load("peer", ccs=tester.credential.cred)
    return kid, tester


def _assert_internal_error(outcome: Outcome, what: str) -> None:
    assert outcome.status == Status.PROTOCOL_ALERT, (
        f"{what}: expected the handshake to abort with internal_error, got {outcome.summary()}"
    )
    assert outcome.result.get("alert") == "internal_error", (
        f"{what}: expected alert internal_error, got {outcome.summary()}"
    )
    assert outcome.state == "FAILED", f"{what}: state {outcome.state!r}, expected FAILED"
    for message in outcome.out:  # nothing signed may leave: at most the EDHOC error message
        code, info = error_message([message])
        assert code == 1 and alert_in_err_info(info) == "internal_error", (
            f"{what}: sent something other than an internal_error message: {outcome.summary()}"
        )


def _first_step_that_signs(
    device: Device, role: str, kid: bytes
) -> tuple[Outcome, Callable[[], Outcome] | None]:
    """SESSION_START, then the step that needs the own signature (None: START refused)."""
    start = attempt(lambda: start_session(device, role, [SUITE], cred=kid))
    if start.status != 0:
        return start, None
    session, out = start.result["value"]
    if role == "responder":
        message_1 = initiator_peer_for(SUITE).handshake_out()[0]
        return start, lambda: deliver(device, session, message_1)
    assert out and len(out) == 1, f"SESSION_START as initiator must emit message_1: {out!r}"
    message_2 = responder_peer_for(SUITE).deliver(bytes(out[0]))[0]
    return start, lambda: deliver(device, session, message_2)


@pytest.mark.requirement("REQ-SP-003")
@pytest.mark.parametrize("role", ["responder", "initiator"])
def test_key_of_another_algorithm_ends_in_internal_error(device: Device, role: str) -> None:
    """A Falcon-512 own key asked to sign for an ML-DSA-44 suite: refused, internal_error."""
    _needs_role(device, role)
    kid, _ = _load_other_alg_own_key(device, role)
    start, step = _first_step_that_signs(device, role, kid)
    if step is None:
        _assert_internal_error(start, "SESSION_START with a Falcon-512 key for suite -102")
        return
    _assert_internal_error(step(), "the first message signed with a Falcon-512 key, suite -102")


# -- REQ-SP-012: the credential's public key must be public_key(key_ref) ----------


@pytest.mark.requirement("REQ-SP-012")
@pytest.mark.parametrize("role", ["responder", "initiator"])
def test_own_credential_of_another_key_is_refused(device: Device, role: str) -> None:
    """CRED_LOAD own with one identity's CCS and another identity's sk: never used.

    Refused with internal_error when loaded, or at the latest when the first
    handshake would use it (before anything signed leaves the device).
    """
    _needs_role(device, role)
    parties = suite_parties(SUITE)
    ccs_of = parties[role].credential
    sk_of = parties["initiator" if role == "responder" else "responder"].private_key
    tester = parties["initiator" if role == "responder" else "responder"]
    device.client.reset("all")
    loaded = attempt(lambda: device.client.cred_load("own", ccs=ccs_of.cred, sk=sk_of))
    if loaded.status != 0:
        _assert_internal_error(loaded, "CRED_LOAD own with a CCS that is not the sk's")
        return
    device.client.cred_load("peer", ccs=tester.credential.cred)
    start, step = _first_step_that_signs(device, role, bytes(loaded.result["value"]))
    if step is None:
        _assert_internal_error(start, "SESSION_START with a credential that is not the key's")
        return
    _assert_internal_error(step(), "the first handshake with a credential that is not the key's")


@pytest.mark.requirement("REQ-SP-012")
def test_matching_own_credential_is_accepted(device: Device) -> None:
    """The positive side of the check: the key's own credential loads and is used."""
    mine = suite_parties(SUITE)["responder"]
    device.client.reset("all")
    kid = device.client.cred_load("own", ccs=mine.credential.cred, sk=mine.private_key)
    assert kid == mine.credential.kid, f"CRED_LOAD own answered kid {kid!r}"
