"""Suite rules (chapter 3), the key schedule (chapter 6) and ML-KEM implicit rejection.

The key schedule is invisible on the wire except through its outputs, so the
strongest black-box check is a twin run: the device and a reference party get
the same ephemeral randomness, connection identifier and ML-DSA ``rnd``
(§13.5), and must then produce byte-identical messages (REQ-TAP-014). Equal
message_2 / message_3 bytes pin TH_2, PRK_2e, KEYSTREAM_2, MAC_2, TH_3, K_3,
IV_3 and MAC_3 (and their lengths, REQ-KEYS-006); equal exporters pin
PRK_out and PRK_exporter. For the SHAKE256 suite the chain is recomputed here
from the spec's formulas, independently of the reference's key schedule.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pqiot.conformance.conversation import error_message, expect_alert, provision, start_session
from pqiot.conformance.device import Device
from pqiot.conformance.handshake_probes import (
    TracedPeer,
    alert_in_err_info,
    deliver,
    device_responder,
    drive,
    initiator_peer_for,
    reseal_message_3,
)
from pqiot.conformance.peer import ReferencePeer, suite_parties
from pqiot.hil.client import StatusError
from pqiot.reference import cbor
from pqiot.reference.crypto.kmac import kmac256
from pqiot.reference.crypto.rng import system_rng
from pqiot.reference.edhoc.wire import EadItem
from pqiot.reference.tap.codes import Command, Status

SUITE = -102
EXPORT_LABEL = 40000
#: Suites whose every random input SESSION_START can fix: ML-KEM + ML-DSA (Falcon signing
#: is out, §13.3 notes). The hybrid -107 needs ``x25519_eph`` too: its twin run is
#: test_hybrid_messages_are_ek_and_ct_with_the_xwing_combiner.
_TWIN_SUITES = (-101, -102, -103, -104, -105, -106)
_MLKEM_SUITES = {512: -101, 768: -102, 1024: -104}
_EXPERIMENTAL = (-107, -108, -109, -110)


def _needs_role(device: Device, role: str) -> None:
    if role not in device.statement.roles:
        pytest.skip(f"not applicable: role {role} not declared")


def _scripted(*values: bytes) -> Callable[[int], bytes]:
    """An RNG serving each value once to the first draw of its length, then the system RNG."""
    queue = list(values)

    def draw(n: int) -> bytes:
        for index, value in enumerate(queue):
            if len(value) == n:
                return queue.pop(index)
        return system_rng(n)

    return draw


# -- twin runs: the key schedule reproduced byte for byte -----------------------------


@pytest.mark.requirement("REQ-KEYS-001", "REQ-KEYS-006", "REQ-TAP-014", "REQ-HS-007", "REQ-HS-012")
def test_device_messages_equal_the_reference_given_the_same_randomness(
    device: Device, suite: int, device_role: str
) -> None:
    if suite == -107:
        pytest.skip("suite -107: twin run with x25519_eph in test_hybrid_messages_are_ek_and_ct_*")
    if suite not in _TWIN_SUITES:
        pytest.skip(f"suite {suite}: not every random input can be fixed through TAP")
    parties = suite_parties(suite)
    tester_role = "responder" if device_role == "initiator" else "initiator"
    mine, tester = parties[device_role], parties[tester_role]
    sig_rnd, c_id = os.urandom(32), b"\x05"
    kid, _ = provision(device, suite, device_role)
    # The tester's own id is fixed and differs from the device's c_id: were they equal, the
    # device would rightly pick another C_R (REQ-HS-005), which the twin cannot predict.
    tester_peer = ReferencePeer(
        tester_role, [suite], tester, [mine.credential], connection_id=b"\x06"
    )
    if device_role == "initiator":
        seed = os.urandom(64)
        session, out = start_session(
            device, "initiator", [suite], cred=kid, kem_seed=seed, c_id=c_id, sig_rnd=sig_rnd
        )
        twin = TracedPeer(
            "initiator",
            [suite],
            mine,
            [tester.credential],
            connection_id=c_id,
            rng=_scripted(seed),
            signing_rng=_scripted(sig_rnd),
        )
        assert bytes(out[0]) == twin.handshake_out()[0], "message_1 differs from the reference's"
        message_2 = tester_peer.deliver(bytes(out[0]))[0]
        device_3, _ = device.client.session_deliver(session, message_2)
        assert [bytes(m) for m in device_3] == twin.deliver(message_2), (
            "message_3 differs from the reference's (TH_3, K_3, IV_3, MAC_3 or signature)"
        )
        tester_peer.deliver(bytes(device_3[0]))
    else:
        kem_m = os.urandom(32)
        session, _ = start_session(
            device, "responder", [suite], cred=kid, kem_m=kem_m, c_id=c_id, sig_rnd=sig_rnd
        )
        twin = TracedPeer(
            "responder",
            [suite],
            mine,
            [tester.credential],
            connection_id=c_id,
            rng=_scripted(kem_m),
            signing_rng=_scripted(sig_rnd),
        )
        message_1 = tester_peer.handshake_out()[0]
        device_2, _ = device.client.session_deliver(session, message_1)
        assert [bytes(m) for m in device_2] == twin.deliver(message_1), (
            "message_2 differs from the reference's (G_Y, TH_2, KEYSTREAM_2, MAC_2 or signature)"
        )
        message_3 = tester_peer.deliver(bytes(device_2[0]))[0]
        device.client.session_deliver(session, message_3)
        twin.deliver(message_3)
    assert twin.established and tester_peer.established
    exported = device.client.export(session, EXPORT_LABEL, b"twin", 48)
    assert exported == twin.exporter(EXPORT_LABEL, b"twin", 48), "PRK_out / PRK_exporter differ"


def _shake_kdf(prk: bytes, label: int, context: bytes, length: int) -> bytes:
    """EDHOC_KDF for SHAKE256 suites: KMAC256(PRK, info, 8*length, "") (RFC 9528 §4.1.1)."""
    return kmac256(prk, cbor.encode_sequence(label, context, length), length)


def _shake_h(*items: bytes) -> bytes:
    return hashlib.shake_256(b"".join(items)).digest(64)


@pytest.mark.requirement("REQ-SUITE-012", "REQ-KEYS-001", "REQ-KEYS-003", "REQ-KEYS-004")
def test_shake256_suite_key_schedule_from_first_principles(
    device: Device, device_role: str
) -> None:
    """-106: TH = SHAKE256/64, Extract/Expand = KMAC256; the device's exporter must match."""
    if -106 not in device.statement.suites:
        pytest.skip("not applicable: suite -106 not declared")
    suite = -106
    parties = suite_parties(suite)
    tester_role = "responder" if device_role == "initiator" else "initiator"
    kid, tester = provision(device, suite, device_role)
    peer = TracedPeer(tester_role, [suite], tester, [parties[device_role].credential])
    session, out = start_session(device, device_role, [suite], cred=kid)
    drive(device, session, peer, out)
    t = peer.trace
    cred_i, cred_r = parties["initiator"].credential.cred, parties["responder"].credential.cred
    th_2 = _shake_h(cbor.encode(t["G_Y"]), cbor.encode(_shake_h(t["message_1"])))
    prk_2e = kmac256(th_2, t["G_XY"], 64)
    th_3 = _shake_h(cbor.encode(th_2), t["PLAINTEXT_2"], cred_r)
    th_4 = _shake_h(cbor.encode(th_3), t["PLAINTEXT_3"], cred_i)
    prk_out = _shake_kdf(prk_2e, 7, th_4, 64)  # method 0: PRK_4e3m = PRK_3e2m = PRK_2e
    prk_exporter = _shake_kdf(prk_out, 10, b"", 64)
    expected = _shake_kdf(prk_exporter, EXPORT_LABEL, b"first principles", 40)
    assert th_2 == t["TH_2"], "the reference's own TH_2 disagrees with the spec formula"
    assert device.client.export(session, EXPORT_LABEL, b"first principles", 40) == expected


@pytest.mark.requirement("REQ-KEYS-004", "REQ-HS-020", "REQ-ENC-012")
def test_ignored_ead_items_still_enter_the_transcript(device: Device, device_role: str) -> None:
    """Padding (label 0) and an unknown non-critical item are ignored but hashed as received."""
    items = [EadItem(0, os.urandom(20)), EadItem(77, b"non-critical")]
    parties = suite_parties(SUITE)
    tester_role = "responder" if device_role == "initiator" else "initiator"
    kid, tester = provision(device, SUITE, device_role)
    peer = TracedPeer(tester_role, [SUITE], tester, [parties[device_role].credential], ead=items)
    session, out = start_session(device, device_role, [SUITE], cred=kid)
    drive(device, session, peer, out)
    state = device.client.session_info(session).get("state")
    assert state == "DONE", f"EAD_{1 if tester_role == 'initiator' else 2} must be ignored"
    assert peer.established
    assert device.client.export(session, EXPORT_LABEL, b"", 16) == peer.exporter(
        EXPORT_LABEL, b"", 16
    )


# -- suite selection (REQ-SUITE-003, -005, -006, -013) --------------------------------


def _start_without_suites(device: Device, role: str, kid: bytes) -> dict[str, Any] | None:
    args: dict[str, Any] = {"role": role, "method": 0, "cred": kid}
    if role == "initiator":
        args["kem_seed"] = os.urandom(64)
    else:
        args["kem_m"] = os.urandom(32)
    try:
        return dict(device.client.call(Command.SESSION_START, args))
    except StatusError as exc:
        if exc.status == Status.MALFORMED:
            return None
        raise


@pytest.mark.requirement("REQ-SUITE-003", "REQ-SUITE-015")
def test_default_suite_when_none_is_configured(device: Device, device_role: str) -> None:
    kid, _ = provision(device, SUITE, device_role)
    started = _start_without_suites(device, device_role, kid)
    if started is None:
        pytest.skip("the device requires SESSION_START 'suites'; the default is not reachable")
    session = int(started["session"])
    if device_role == "initiator":
        message_1 = bytes(started["out"][0])
        assert message_1[1:3] == b"\x38\x65", (
            f"default SUITES_I must be -102 (38 65), message_1 starts {message_1[:4].hex()}"
        )
        return
    peer = initiator_peer_for(SUITE)
    out, state = device.client.session_deliver(session, peer.handshake_out()[0])
    assert state == "WAIT_M3", "a responder without configuration must accept -102"
    device.client.session_deliver(session, peer.deliver(out[0])[0])
    assert peer.established


@pytest.mark.conversation
@pytest.mark.requirement("REQ-SUITE-005", "REQ-HS-027")
@pytest.mark.parametrize("experimental", _EXPERIMENTAL)
def test_experimental_suite_is_not_accepted_unless_enabled(
    device: Device, experimental: int
) -> None:
    _needs_role(device, "responder")
    session, _ = device_responder(device, SUITE)
    message_1 = initiator_peer_for(experimental).handshake_out()[0]
    result = expect_alert(
        lambda: device.client.session_deliver(session, message_1),
        {"wrong_selected_cipher_suite"},
        f"message_1 selecting experimental suite {experimental} (enabled: -102 only)",
    )
    assert error_message(result.get("out")) == (2, SUITE)


@pytest.mark.requirement("REQ-SUITE-006")
def test_every_session_gets_a_fresh_ephemeral_key(device: Device) -> None:
    """Without tester-supplied ``kem_seed`` two message_1 must carry different G_X."""
    _needs_role(device, "initiator")
    kid, _ = provision(device, SUITE, "initiator")
    g_x = []
    for _ in range(2):
        try:
            _, out = device.client.session_start("initiator", 0, [SUITE], cred=kid)
        except StatusError as exc:
            if exc.status in (Status.UNSUPPORTED, Status.MALFORMED):
                pytest.skip(f"the device needs kem_seed from the host (no entropy): {exc}")
            raise
        g_x.append(cbor.decode_sequence(bytes(out[0]))[2])
    assert g_x[0] != g_x[1], "two sessions sent the same ML-KEM encapsulation key"


@pytest.mark.conversation
@pytest.mark.requirement("REQ-SUITE-013", "REQ-HS-004", "REQ-HS-021")
@pytest.mark.parametrize("method", [1, 2, 3])
def test_kem_suite_with_a_static_dh_method_is_refused(device: Device, method: int) -> None:
    _needs_role(device, "responder")
    session, _ = device_responder(device, SUITE)
    message_1 = initiator_peer_for(SUITE).handshake_out()[0]
    result = expect_alert(
        lambda: device.client.session_deliver(session, bytes([method]) + message_1[1:]),
        {"unsupported_method"},
        f"message_1 with METHOD {method} and KEM suite -102",
    )
    code, info = error_message(result.get("out"))
    assert code == 1 and alert_in_err_info(info) == "unsupported_method", (code, info)


# -- ML-KEM key checks and implicit rejection (REQ-SUITE-007, REQ-SP-005) -----------------


@pytest.mark.conversation
@pytest.mark.requirement("REQ-SUITE-007", "REQ-HS-004", "REQ-HS-021")
@pytest.mark.parametrize("size", sorted(_MLKEM_SUITES))
def test_encapsulation_key_failing_the_modulus_check_is_refused(device: Device, size: int) -> None:
    """G_X whose first coefficient is 4095 >= q: FIPS 203 §7.2 check fails, decode_error."""
    _needs_role(device, "responder")
    suite = _MLKEM_SUITES[size]
    if suite not in device.statement.suites:
        pytest.skip(f"suite {suite} (ML-KEM-{size}) not declared")
    items = cbor.decode_sequence(initiator_peer_for(suite).handshake_out()[0])
    g_x = bytearray(items[2])  # type: ignore[arg-type]
    g_x[0], g_x[1] = 0xFF, g_x[1] | 0x0F
    items[2] = bytes(g_x)
    session, _ = device_responder(device, suite)
    result = expect_alert(
        lambda: device.client.session_deliver(session, cbor.encode_sequence(*items)),
        {"decode_error"},
        f"ML-KEM-{size} encapsulation key with a coefficient of 4095",
    )
    code, info = error_message(result.get("out"))
    assert code == 1 and alert_in_err_info(info) == "decode_error", (code, info)


@pytest.mark.requirement("REQ-SP-005", "REQ-TAP-010")
@pytest.mark.parametrize("size", [512, 768, 1024])
def test_decapsulation_of_a_tampered_ciphertext_is_implicit_rejection(
    device: Device, size: int
) -> None:
    """K = J(z || c) = SHAKE256(z || c, 32) for an altered c (FIPS 203 Algorithm 18)."""
    if f"ml-kem-{size}" not in device.identity.get("primitives", []):  # type: ignore[operator]
        pytest.skip(f"ml-kem-{size} not declared")
    d, z, m = os.urandom(32), os.urandom(32), os.urandom(32)
    ek, dk = device.client.mlkem_keygen(size, d, z)
    assert dk[-32:] == z, "FIPS 203: dk ends with z"
    c, k = device.client.mlkem_encaps(size, ek, m)
    assert device.client.mlkem_decaps(size, dk, c) == k
    tampered = bytes([c[0] ^ 0x01]) + c[1:]
    rejected = device.client.mlkem_decaps(size, dk, tampered)
    assert rejected == hashlib.shake_256(z + tampered).digest(32), (
        "MLKEM_DECAPS of an altered ciphertext must return J(z || c)"
    )
    assert rejected != k


# -- Falcon encodings (REQ-SUITE-010) ------------------------------------------------------


_FALCON_512 = -108


def _falcon_declared(device: Device) -> None:
    if _FALCON_512 not in device.statement.suites:
        pytest.skip("not applicable: Falcon-512 suite -108 not declared")


@pytest.mark.requirement("REQ-SUITE-010")
def test_device_falcon_signatures_use_the_padded_encoding(device: Device, device_role: str) -> None:
    _falcon_declared(device)
    parties = suite_parties(_FALCON_512)
    tester_role = "responder" if device_role == "initiator" else "initiator"
    kid, tester = provision(device, _FALCON_512, device_role)
    peer = TracedPeer(tester_role, [_FALCON_512], tester, [parties[device_role].credential])
    session, out = start_session(device, device_role, [_FALCON_512], cred=kid)
    drive(device, session, peer, out)
    name = "Signature_or_MAC_2" if device_role == "responder" else "Signature_or_MAC_3"
    signature = peer.trace[name]
    assert (len(signature), signature[:1]) == (666, b"\x39"), (
        f"Falcon-512 signature of {len(signature)} bytes with header {signature[:1].hex()}"
    )
    assert peer.established


@pytest.mark.conversation
@pytest.mark.requirement("REQ-SUITE-010", "REQ-HS-014")
@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda s: b"\x29" + s[1:], id="header-29"),
        pytest.param(lambda s: s[:-1], id="665-bytes"),
        pytest.param(lambda s: s + b"\x00", id="667-bytes"),
    ],
)
def test_falcon_signature_in_another_encoding_is_refused(
    device: Device, mutate: Callable[[bytes], bytes]
) -> None:
    _needs_role(device, "responder")
    _falcon_declared(device)
    session, _ = device_responder(device, _FALCON_512)
    peer = initiator_peer_for(_FALCON_512)
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    peer.deliver(out[0])
    plaintext_3 = peer.trace["PLAINTEXT_3"]
    signature = peer.trace["Signature_or_MAC_3"]
    id_cred = plaintext_3[: len(plaintext_3) - len(cbor.encode(signature))]
    forged = reseal_message_3(peer.trace, _FALCON_512, id_cred + cbor.encode(mutate(signature)))
    outcome = deliver(device, session, forged)
    assert (outcome.status, outcome.alert) == (Status.PROTOCOL_ALERT, "authentication_failed"), (
        f"a Falcon signature in a non-standard encoding must fail: {outcome.summary()}"
    )
    code, info = error_message(outcome.result.get("out"))
    assert code == 1 and alert_in_err_info(info) == "authentication_failed", (code, info)


def _hkdf_sha256(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF with SHA-256, written out so the check does not lean on the reference."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm, counter = okm + block, counter + 1
    return okm[:length]


@pytest.mark.requirement("REQ-KEYS-013", "REQ-SUITE-012", "REQ-KEYS-011")
def test_shake256_suite_records_are_keyed_with_hkdf_sha256(
    device: Device, device_role: str
) -> None:
    """Decrypt a -106 record of the device with keys from HKDF-SHA-256 (§6.6, §7.1)."""
    if -106 not in device.statement.suites:
        pytest.skip("not applicable: suite -106 not declared")
    suite = -106
    parties = suite_parties(suite)
    tester_role = "responder" if device_role == "initiator" else "initiator"
    kid, tester = provision(device, suite, device_role)
    peer = ReferencePeer(tester_role, [suite], tester, [parties[device_role].credential])
    session, out = start_session(device, device_role, [suite], cred=kid)
    drive(device, session, peer, out)
    secret = device.client.export(session, 0, b"", 32)  # A256GCM key length
    salt = device.client.export(session, 1, b"", 8)
    record = device.client.app_send(session, b"hkdf-sha-256")[0]
    option = record[1 : 1 + record[0]]
    flags, ciphertext = option[0], record[1 + record[0] :]
    assert flags & 0x18 == 0x08, f"epoch 0 record flags {flags:#04x}: k = 1, h = 0"
    piv, sender_id = option[1 : 1 + (flags & 7)], option[1 + (flags & 7) :]
    key = _hkdf_sha256(salt, secret, cbor.encode([sender_id, None, 3, "Key", 32]), 32)
    common_iv = _hkdf_sha256(salt, secret, cbor.encode([b"", None, 3, "IV", 12]), 12)
    partial = bytes([len(sender_id)]) + sender_id.rjust(6, b"\0") + piv.rjust(5, b"\0")
    nonce = bytes(a ^ b for a, b in zip(partial, common_iv, strict=True))
    external_aad = cbor.encode([1, [3], sender_id, piv, b"", b""])
    aad = cbor.encode(["Encrypt0", b"", external_aad])
    plaintext = AESGCM(key).decrypt(nonce, ciphertext, aad)
    assert plaintext == b"\x01hkdf-sha-256", f"decrypted {plaintext!r}"


# -- the hybrid key exchange of suite -107 (REQ-SUITE-008) ---------------------------------

_HYBRID = -107
_EK_M, _CT_M, _PK_X = 1184, 1088, 32  # ML-KEM-768 ek and ct, X25519 public key
_XWING_LABEL = b"\x5c\x2e\x2f\x2f\x5e\x5c"  # \.//^\


def _x25519_public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def _x25519(private: bytes, public: bytes) -> bytes:
    peer = X25519PublicKey.from_public_bytes(public)
    return X25519PrivateKey.from_private_bytes(private).exchange(peer)


def _xwing(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    """The X-Wing combiner as REQ-SUITE-008 writes it, independent of the reference's."""
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + _XWING_LABEL).digest()


def _start_hybrid(
    device: Device, role: str, kid: bytes, x25519_eph: bytes, **options: Any
) -> tuple[int, list[bytes], bool]:
    """SESSION_START for -107 with ``x25519_eph``; without it if the device refuses the argument.

    Returns (session, out, whether the device took ``x25519_eph``). A device that does
    not take it still shows the encodings and the combiner: the tester knows its own
    randomness and, as Initiator's peer, ``kem_seed`` fixes the device's ML-KEM key.
    """
    try:
        session, out = start_session(
            device, role, [_HYBRID], cred=kid, x25519_eph=x25519_eph, **options
        )
        return session, out, True
    except StatusError as exc:
        if exc.status != Status.UNSUPPORTED:
            raise
    session, out = start_session(device, role, [_HYBRID], cred=kid, **options)
    return session, out, False


@pytest.mark.requirement("REQ-SUITE-008", "REQ-HS-006")
def test_hybrid_messages_are_ek_and_ct_with_the_xwing_combiner(
    device: Device, device_role: str
) -> None:
    """-107: G_X = ek_M || pk_X, G_Y = ct_M || ct_X, G_XY = SHA3-256(ss_M||ss_X||ct_X||pk_X||label).

    Twin run as for the other KEM suites (same kem_seed / kem_m / x25519_eph / sig_rnd /
    c_id: byte-identical messages), and independently of the reference's hybrid code: the
    split of G_X and G_Y, the X25519 keys in them and the combiner over the values this
    device used, computed here with cryptography and hashlib; equal exporters then show
    that the device keyed its handshake with that G_XY.
    """
    if _HYBRID not in device.statement.suites:
        pytest.skip("not applicable: suite -107 not declared")
    mine = suite_parties(_HYBRID)[device_role]
    kid, tester = provision(device, _HYBRID, device_role)
    sig_rnd, c_id, device_eph = os.urandom(32), b"\x05", os.urandom(32)
    twin_peer: TracedPeer | None = None
    if device_role == "initiator":
        seed, tester_m, tester_eph = os.urandom(64), os.urandom(32), os.urandom(32)
        peer = TracedPeer(
            "responder",
            [_HYBRID],
            tester,
            [mine.credential],
            connection_id=b"\x06",
            rng=_scripted(tester_m, tester_eph),
        )
        session, out, fixed = _start_hybrid(
            device, "initiator", kid, device_eph, kem_seed=seed, c_id=c_id, sig_rnd=sig_rnd
        )
        if fixed:
            twin_peer = TracedPeer(
                "initiator",
                [_HYBRID],
                mine,
                [tester.credential],
                connection_id=c_id,
                rng=_scripted(seed, device_eph),
                signing_rng=_scripted(sig_rnd),
            )
            assert bytes(out[0]) == twin_peer.handshake_out()[0], "message_1 differs"
        g_x = cbor.decode_sequence(bytes(out[0]))[2]
        assert isinstance(g_x, bytes) and len(g_x) == _EK_M + _PK_X, (
            f"G_X must be ek_M (1184 bytes) || pk_X (32 bytes), got {g_x!r:.40}"
        )
        ek_m, pk_x = g_x[:_EK_M], g_x[_EK_M:]
        kem_key = MLKEM768PrivateKey.from_seed_bytes(seed)
        assert ek_m == kem_key.public_key().public_bytes_raw(), (
            "G_X must start with the ML-KEM-768 encapsulation key of kem_seed"
        )
        if fixed:
            assert pk_x == _x25519_public(device_eph), "G_X must end with X25519(x25519_eph)"
        message_2 = peer.deliver(bytes(out[0]))[0]
        g_y = peer.trace["G_Y"]
        ct_m, ct_x = g_y[:_CT_M], g_y[_CT_M:]
        assert ct_x == _x25519_public(tester_eph)
        expected = _xwing(kem_key.decapsulate(ct_m), _x25519(tester_eph, pk_x), ct_x, pk_x)
        device_3, _ = device.client.session_deliver(session, message_2)
        if twin_peer is not None:
            assert [bytes(m) for m in device_3] == twin_peer.deliver(message_2), (
                "message_3 differs from the reference's given the same randomness"
            )
        peer.deliver(bytes(device_3[0]))
    else:
        seed, tester_eph, kem_m = os.urandom(64), os.urandom(32), os.urandom(32)
        peer = TracedPeer(
            "initiator",
            [_HYBRID],
            tester,
            [mine.credential],
            connection_id=b"\x06",
            rng=_scripted(seed, tester_eph),
        )
        session, _, fixed = _start_hybrid(
            device, "responder", kid, device_eph, kem_m=kem_m, c_id=c_id, sig_rnd=sig_rnd
        )
        message_1 = peer.handshake_out()[0]
        device_2, _ = device.client.session_deliver(session, message_1)
        if fixed:
            twin_peer = TracedPeer(
                "responder",
                [_HYBRID],
                mine,
                [tester.credential],
                connection_id=c_id,
                rng=_scripted(kem_m, device_eph),
                signing_rng=_scripted(sig_rnd),
            )
            assert [bytes(m) for m in device_2] == twin_peer.deliver(message_1), (
                "message_2 differs from the reference's given the same randomness"
            )
        g_y_ciphertext_2 = cbor.decode_sequence(bytes(device_2[0]))[0]
        assert isinstance(g_y_ciphertext_2, bytes) and len(g_y_ciphertext_2) > _CT_M + _PK_X
        ct_m, ct_x = g_y_ciphertext_2[:_CT_M], g_y_ciphertext_2[_CT_M : _CT_M + _PK_X]
        if fixed:
            assert ct_x == _x25519_public(device_eph), (
                "G_Y must be ct_M (1088) || ct_X, ct_X = X25519 public key of x25519_eph"
            )
        pk_x = _x25519_public(tester_eph)
        assert peer.trace["G_X"][_EK_M:] == pk_x, "the tester's own G_X is not ek_M || pk_X"
        kem_key = MLKEM768PrivateKey.from_seed_bytes(seed)
        expected = _xwing(kem_key.decapsulate(ct_m), _x25519(tester_eph, ct_x), ct_x, pk_x)
        message_3 = peer.deliver(bytes(device_2[0]))[0]
        device.client.session_deliver(session, message_3)
        if twin_peer is not None:
            twin_peer.deliver(message_3)
    assert peer.trace["G_XY"] == expected, "the tester's G_XY is not the X-Wing combiner"
    assert peer.established
    exported = device.client.export(session, EXPORT_LABEL, b"hybrid", 32)
    assert exported == peer.exporter(EXPORT_LABEL, b"hybrid", 32), (
        "the device's key schedule does not rest on G_XY = X-Wing combiner (exporters differ)"
    )
