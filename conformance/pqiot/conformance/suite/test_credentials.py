"""Credential rules of spec chapter 4 §4.3, checked through handshakes with the device.

Malformed credentials reach the device the only way a peer can send one: by
value, as ``ID_CRED_x = {14: CCS}`` inside PLAINTEXT_3 (device Responder) or
PLAINTEXT_2 (device Initiator), re-sealed with the traced handshake keys so
the device decrypts them and meets the credential fault first.
"""

from __future__ import annotations

from typing import Any

import pytest

from pqiot.conformance.conversation import error_message, start_session
from pqiot.conformance.device import Device
from pqiot.conformance.handshake_probes import (
    TracedPeer,
    alert_in_err_info,
    deliver,
    device_initiator,
    device_responder,
    drive,
    initiator_peer_for,
    reencrypt_message_2,
    reseal_message_3,
    responder_peer_for,
    signing_with_its_own_algorithm,
    skip_item,
)
from pqiot.conformance.peer import Party, ml_dsa_65_party, suite_parties
from pqiot.hil.client import StatusError
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.credentials import Credential, akp_ccs, parse_ccs
from pqiot.reference.tap.codes import Status

pytestmark = pytest.mark.conversation
SUITE = -102
EXPORT_LABEL = 40000
UNKNOWN_KID = b"\x7f\x01"


def _needs_role(device: Device, role: str) -> None:
    if role not in device.statement.roles:
        pytest.skip(f"not applicable: role {role} not declared")


def _ccs_map(credential: Credential) -> dict[CborValue, Any]:
    value = cbor.decode(credential.cred)
    assert isinstance(value, dict)
    return value


def _tester_map(kid: bytes = UNKNOWN_KID) -> dict[CborValue, Any]:
    """The tester's -102 initiator CCS as a map, under a kid the device does not store."""
    ccs = _ccs_map(suite_parties(SUITE)["initiator"].credential)
    ccs[8][1][2] = kid
    return ccs


def _by_value(ccs: bytes) -> bytes:
    """ID_CRED_x = {14: CCS} with the CCS bytes spliced in unchanged (may be malformed)."""
    return b"\xa1\x0e" + ccs


def _message_3_presenting(device: Device, ccs: bytes) -> tuple[int, bytes]:
    """A device Responder in WAIT_M3 and a message_3 whose ID_CRED_I is {14: ccs}."""
    session, _ = device_responder(device, SUITE)
    peer = initiator_peer_for(SUITE)
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    peer.deliver(out[0])
    signature = peer.trace["Signature_or_MAC_3"]
    return session, reseal_message_3(peer.trace, SUITE, _by_value(ccs) + cbor.encode(signature))


def _message_2_presenting(device: Device, ccs: bytes) -> tuple[int, bytes]:
    """A device Initiator in WAIT_M2 and a message_2 whose ID_CRED_R is {14: ccs}."""
    session, message_1 = device_initiator(device, SUITE)
    peer = responder_peer_for(SUITE)
    peer.deliver(message_1)
    plaintext_2 = peer.trace["PLAINTEXT_2"]
    c_r = plaintext_2[: skip_item(plaintext_2)]
    signature = cbor.encode(peer.trace["Signature_or_MAC_2"])
    forged = reencrypt_message_2(peer.trace, SUITE, c_r + _by_value(ccs) + signature)
    return session, forged


def _refused(device: Device, session: int, message: bytes, alerts: set[str], what: str) -> str:
    """The device aborts with one of ``alerts`` and sends the matching ERR_CODE 1 error."""
    outcome = deliver(device, session, message)
    assert outcome.status == Status.PROTOCOL_ALERT and outcome.alert in alerts, (
        f"{what}: expected alert {' or '.join(sorted(alerts))}, got {outcome.summary()}"
    )
    code, info = error_message(outcome.result.get("out"))
    assert code == 1 and alert_in_err_info(info) == outcome.alert, (code, info)
    return str(outcome.alert)


def _without(ccs: dict[CborValue, Any], key: int) -> dict[CborValue, Any]:
    return {k: v for k, v in ccs.items() if k != key}


def _malformed_ccs() -> list[Any]:
    base = _tester_map()
    key = base[8][1]
    cases: list[tuple[str, CborValue]] = [
        ("sub-is-bstr", {**base, 2: b"initiator"}),
        ("sub-missing", _without(base, 2)),
        ("cnf-missing", _without(base, 8)),
        ("cnf-without-cose-key", {**base, 8: {3: UNKNOWN_KID}}),
        ("cose-key-not-a-map", {**base, 8: {1: cbor.encode(key)}}),
        ("ccs-is-an-array", [base[2], base[8]]),
    ]
    return [pytest.param(cbor.encode(value), id=name) for name, value in cases]


@pytest.mark.requirement("REQ-CRED-001")
@pytest.mark.parametrize("ccs", _malformed_ccs())
def test_credential_that_is_not_a_ccs_is_refused_with_decode_error(
    device: Device, ccs: bytes
) -> None:
    _needs_role(device, "responder")
    session, message_3 = _message_3_presenting(device, ccs)
    _refused(device, session, message_3, {"decode_error"}, "ID_CRED_I with a malformed CCS")


@pytest.mark.requirement("REQ-CRED-001")
def test_initiator_refuses_a_malformed_ccs_in_message_2(device: Device) -> None:
    _needs_role(device, "initiator")
    session, message_2 = _message_2_presenting(device, cbor.encode(_without(_tester_map(), 2)))
    _refused(device, session, message_2, {"decode_error"}, "ID_CRED_R with a CCS without sub")


@pytest.mark.requirement("REQ-CRED-003")
@pytest.mark.parametrize("delta", [-1, 1], ids=["pub-1311-bytes", "pub-1313-bytes"])
def test_public_key_of_the_wrong_length_is_refused(device: Device, delta: int) -> None:
    """An ML-DSA-44 (alg -48) AKP key must have a 1312-byte pub: decode_error otherwise."""
    _needs_role(device, "responder")
    ccs = _tester_map()
    pub = ccs[8][1][-1]
    assert len(pub) == 1312
    ccs[8][1][-1] = pub[:-1] if delta < 0 else pub + b"\x00"
    session, message_3 = _message_3_presenting(device, cbor.encode(ccs))
    _refused(device, session, message_3, {"decode_error"}, f"pub of {len(pub) + delta} bytes")


@pytest.mark.requirement("REQ-CRED-004")
@pytest.mark.parametrize("kid", [b"", bytes(range(0x40, 0x51))], ids=["empty", "17-bytes"])
def test_kid_outside_1_to_16_bytes_is_refused(device: Device, kid: bytes) -> None:
    _needs_role(device, "responder")
    session, message_3 = _message_3_presenting(device, cbor.encode(_tester_map(kid)))
    _refused(
        device,
        session,
        message_3,
        {"decode_error", "authentication_failed"},
        f"credential by value with a {len(kid)}-byte kid",
    )


@pytest.mark.requirement("REQ-CRED-004")
def test_provisioning_a_17_byte_kid_is_refused(device: Device) -> None:
    device.client.reset("all")
    ccs = cbor.encode(_tester_map(bytes(range(0x40, 0x51))))
    try:
        device.client.cred_load("peer", ccs=ccs)
    except StatusError as exc:
        status = exc.status
        assert status in (Status.MALFORMED, Status.INVALID_INPUT), f"refused oddly: {exc}"
        return
    raise AssertionError("CRED_LOAD accepted a peer credential whose kid is 17 bytes long")


# -- the signature algorithm must be the suite's (REQ-CRED-002) ---------------------


def _provision_other_alg_peer(device: Device, device_role: str, other: Party) -> bytes:
    """Own -102 credential plus the ML-DSA-65 peer; skip if the device cannot hold the latter."""
    mine = suite_parties(SUITE)[device_role]
    device.client.reset("all")
    kid = device.client.cred_load("own", ccs=mine.credential.cred, sk=mine.private_key)
    try:
        device.client.cred_load("peer", ccs=other.credential.cred)
    except StatusError as exc:
        pytest.skip(f"the device cannot store an ML-DSA-65 credential, so never accepts one: {exc}")
    return kid


@pytest.mark.requirement("REQ-CRED-002", "REQ-HS-014")
def test_responder_refuses_a_peer_key_of_another_algorithm(device: Device) -> None:
    """A correctly signed message_3 under an allow-listed ML-DSA-65 key in suite -102."""
    _needs_role(device, "responder")
    needed = ml_dsa_65_party("initiator")
    kid = _provision_other_alg_peer(device, "responder", needed)
    session, _ = start_session(device, "responder", [SUITE], cred=kid)
    peer = signing_with_its_own_algorithm(
        TracedPeer("initiator", [SUITE], needed, [suite_parties(SUITE)["responder"].credential])
    )
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    message_3 = peer.deliver(out[0])[0]
    _refused(device, session, message_3, {"authentication_failed"}, "ML-DSA-65 key in -102")


@pytest.mark.requirement("REQ-CRED-002", "REQ-HS-010")
def test_initiator_refuses_a_peer_key_of_another_algorithm(device: Device) -> None:
    _needs_role(device, "initiator")
    other = ml_dsa_65_party("responder")
    kid = _provision_other_alg_peer(device, "initiator", other)
    session, out = start_session(device, "initiator", [SUITE], cred=kid)
    peer = signing_with_its_own_algorithm(
        TracedPeer("responder", [SUITE], other, [suite_parties(SUITE)["initiator"].credential])
    )
    message_2 = peer.deliver(out[0])[0]
    _refused(device, session, message_2, {"authentication_failed"}, "ML-DSA-65 key in -102")


# -- credentials used exactly as stored or received (REQ-CRED-005, REQ-ENC-012) ---------


def _with_extra_claims(party: Party) -> Party:
    """The same key under a CCS that also carries iss (1) and a private claim -70000."""
    ccs = {**_ccs_map(party.credential), 1: "conformance issuer", -70000: b"\x00\x01\x02"}
    return Party(parse_ccs(cbor.encode(ccs)), party.private_key)


@pytest.mark.requirement("REQ-CRED-005", "REQ-ENC-012")
@pytest.mark.parametrize(
    "where",
    [
        "peer-by-kid",
        pytest.param("peer-by-value", marks=pytest.mark.requirement("REQ-KS-003")),
        "own",
    ],
)
def test_credentials_with_unknown_claims_enter_the_transcript_unchanged(
    device: Device, device_role: str, where: str
) -> None:
    """A device that re-encodes a CCS without the claims it does not know breaks the MACs."""
    tester_role = "responder" if device_role == "initiator" else "initiator"
    parties = suite_parties(SUITE)
    mine, tester = parties[device_role], parties[tester_role]
    if where == "own":
        mine = _with_extra_claims(mine)
    else:
        tester = _with_extra_claims(tester)
    device.client.reset("all")
    kid = device.client.cred_load("own", ccs=mine.credential.cred, sk=mine.private_key)
    device.client.cred_load("peer", ccs=tester.credential.cred)
    peer = TracedPeer(
        tester_role, [SUITE], tester, [mine.credential], by_value=where == "peer-by-value"
    )
    session, out = start_session(device, device_role, [SUITE], cred=kid)
    drive(device, session, peer, out)
    assert device.client.session_info(session).get("state") == "DONE", (
        f"handshake with extra CCS claims ({where}) did not complete"
    )
    assert peer.established
    assert device.client.export(session, EXPORT_LABEL, b"", 16) == peer.exporter(
        EXPORT_LABEL, b"", 16
    )


# -- compact ID_CRED_x (REQ-CRED-006) -------------------------------------------------


def _with_kid(party: Party, kid: bytes) -> Party:
    c = party.credential
    return Party(akp_ccs(c.subject, kid, c.algorithm, c.public_key), party.private_key)


@pytest.mark.requirement("REQ-CRED-006", "REQ-HS-007", "REQ-HS-012")
@pytest.mark.parametrize(
    ("kid", "compact"),
    [(b"\x32", b"\x32"), (b"\xa1", b"\x41\xa1"), (b"\x01\x02", b"\x42\x01\x02")],
    ids=["kid-32-is-int", "kid-a1-is-bstr", "two-byte-kid"],
)
def test_id_cred_is_sent_compactly(
    device: Device, device_role: str, kid: bytes, compact: bytes
) -> None:
    """The kid alone in PLAINTEXT_2/3; the full {4: kid} map in the MAC and signature inputs."""
    tester_role = "responder" if device_role == "initiator" else "initiator"
    parties = suite_parties(SUITE)
    mine, tester = _with_kid(parties[device_role], kid), parties[tester_role]
    device.client.reset("all")
    own_kid = device.client.cred_load("own", ccs=mine.credential.cred, sk=mine.private_key)
    device.client.cred_load("peer", ccs=tester.credential.cred)
    peer = TracedPeer(tester_role, [SUITE], tester, [mine.credential])
    session, out = start_session(device, device_role, [SUITE], cred=own_kid)
    drive(device, session, peer, out)
    if device_role == "responder":
        plaintext = peer.trace["PLAINTEXT_2"]
        plaintext = plaintext[skip_item(plaintext) :]
    else:
        plaintext = peer.trace["PLAINTEXT_3"]
    assert plaintext.startswith(compact), (
        f"ID_CRED for kid {kid.hex()} must be sent as {compact.hex()}, got {plaintext[:4].hex()}"
    )
    assert peer.established, "the reference could not verify the device (full-map inputs)"


# -- validity period (REQ-CRED-008) ----------------------------------------------------


@pytest.mark.requirement("REQ-CRED-008")
@pytest.mark.parametrize(
    ("claim", "value"), [(4, 1), (5, 4102444800)], ids=["exp-1970", "nbf-2100"]
)
def test_credential_outside_its_validity_period_is_refused(
    device: Device, device_role: str, claim: int, value: int
) -> None:
    if "no-clock" in device.statement.features:
        pytest.skip("not applicable: the device declares no-clock")
    tester_role = "responder" if device_role == "initiator" else "initiator"
    parties = suite_parties(SUITE)
    mine, base = parties[device_role], parties[tester_role]
    ccs = {**_ccs_map(base.credential), claim: value}
    tester = Party(parse_ccs(cbor.encode(ccs)), base.private_key)
    device.client.reset("all")
    kid = device.client.cred_load("own", ccs=mine.credential.cred, sk=mine.private_key)
    try:
        device.client.cred_load("peer", ccs=tester.credential.cred)
    except StatusError as exc:
        assert exc.status in (Status.INVALID_INPUT, Status.MALFORMED), exc
        return
    peer = TracedPeer(tester_role, [SUITE], tester, [mine.credential])
    session, out = start_session(device, device_role, [SUITE], cred=kid)
    if device_role == "initiator":
        message = peer.deliver(out[0])[0]
    else:
        reply, _ = device.client.session_deliver(session, peer.handshake_out()[0])
        message = peer.deliver(reply[0])[0]
    _refused(device, session, message, {"authentication_failed"}, f"claim {claim} = {value}")
