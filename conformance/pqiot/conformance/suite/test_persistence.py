"""Persistence across power cycles (spec §7.7 "K ahead", §7.9 count_v, §8.3 windows, §4.5).

A power cycle is the harness turning the device off and on (:meth:`Device.power_cycle`):
RAM is lost, the NVM survives. The tester then watches what the restored device does on the
wire. Its SSNs are read straight from the records it sends (and every record is checked
byte for byte against the §7.1 encoding by :mod:`pqiot.conformance.record_probes`), so a
device that reused an SSN, resumed below the stored bound or raised the bound only after the
record that needed it had left is caught by the value it puts on the wire.

The bounds are exact, not only safe: with K = ``persist_k`` (IDENTIFY), P_s starts at K and
grows by K just before the SSN equal to it is used (REQ-REPLAY-006), so after the SSNs
0..n-1 it is the smallest multiple of K above n-1, and the first SSN after a restart must be
exactly that (REQ-REPLAY-007). A recipient's P_r is PIV + K of the first accepted PIV above
the previous P_r (REQ-REPLAY-008); after a restart every PIV <= P_r is a replay and P_r + 1
is accepted (REQ-REPLAY-009).
"""

from __future__ import annotations

import time
from functools import cache, partial
from typing import Any

import pytest

from pqiot.conformance.conversation import HandshakeRun, expect_alert, run_handshake
from pqiot.conformance.device import Device
from pqiot.conformance.record_probes import (
    APPLICATION_DATA,
    EpochKeys,
    assert_record,
    parse_record,
    session_keys,
)
from pqiot.hil.client import StatusError
from pqiot.reference.credentials import Credential
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.identity import generate_identity
from pqiot.reference.pubsub import sign_message
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.tap.codes import Command, Status
from pqiot.reference.trust import kid_bytes

SUITE = -102
#: §7.7: the default persistence step, when IDENTIFY does not name ``persist_k``.
DEFAULT_K = 32
#: KU-013: the lowered limit_v (SESSION_START ``limits``, REQ-KU-015) and the forgeries sent
#: before the power cycle; after it the context must end by the LIMIT_V-th forgery in total.
LIMIT_V = 6
FORGED_BEFORE = 3
TOPIC = "plant1/pqiot/v1/ps/line3/persisted"


@pytest.fixture(autouse=True)
def _power_cycled(device: Device) -> None:
    if device.restart is None:
        pytest.skip("not testable: the harness can neither restart nor reset this device")


@pytest.fixture
def persistent(device: Device) -> Device:
    if "persistent-contexts" not in device.statement.features:
        pytest.skip("not applicable: feature persistent-contexts not declared")
    return device


def _role(device: Device) -> str:
    return "responder" if "responder" in device.statement.roles else "initiator"


def _k(device: Device) -> int:
    return device.limit("persist_k", DEFAULT_K)


def sender_bound(records_sent: int, k: int) -> int:
    """P_s after the SSNs 0..records_sent-1 (REQ-REPLAY-006): K, raised by K at SSN = P_s."""
    return k if records_sent == 0 else k * (1 + (records_sent - 1) // k)


def power_cycle(device: Device, evidence: dict[str, Any], session: int | None = None) -> None:
    """Turn the device off and on; ``session`` must have survived it (§7.7: it persists).

    The time the power cycle took goes into the evidence.
    """
    started = time.perf_counter()
    device.power_cycle()
    assert device.alive(), "the device does not answer ECHO after the power cycle"
    evidence.setdefault("power_cycles_s", []).append(round(time.perf_counter() - started, 3))
    if session is None:
        return
    try:
        state = device.client.session_info(session).get("state")
    except StatusError as exc:
        raise AssertionError(
            f"session {session} did not survive the power cycle although the device declares "
            f"persistent-contexts: SESSION_INFO answered {exc.result.get('error')!r}"
        ) from None
    assert state == "DONE", f"session {session} is in state {state!r} after the power cycle"


class SentRecords:
    """The device's records of one session: each is checked at the SSN the rules demand."""

    def __init__(self, run: HandshakeRun, keys: EpochKeys) -> None:
        self.run, self.keys = run, keys
        self.ssns: list[int] = []

    def send(self, expected_ssn: int, what: str) -> None:
        data = f"record {len(self.ssns)}".encode()
        out = self.run.device.client.app_send(self.run.session, data)
        assert len(out) == 1, f"{what}: APP_SEND produced {len(out)} records, expected 1"
        ssn = parse_record(out[0]).ssn
        assert ssn not in self.ssns, (
            f"{what}: SSN {ssn} was used before ({self.ssns}): the (key, nonce) pair is reused"
        )
        assert ssn == expected_ssn, (
            f"{what}: the device sent SSN {ssn}, the stored bound rule gives {expected_ssn} "
            f"(SSNs so far {self.ssns})"
        )
        assert_record(self.keys.device, out[0], ssn, bytes([APPLICATION_DATA]) + data, what)
        self.ssns.append(ssn)


# -- REQ-REPLAY-006 / 007, REQ-KS-008: the sender -------------------------------------------


@pytest.mark.requirement("REQ-REPLAY-006", "REQ-REPLAY-007", "REQ-KS-008")
def test_sender_resumes_at_the_stored_bound_and_never_reuses_an_ssn(
    persistent: Device, evidence: dict[str, Any]
) -> None:
    """After each power cycle the next SSN is exactly P_s; no SSN is ever used twice.

    Three cycles: after SSN 0 (P_s is still the initial K), right after the record at
    SSN = K (which needed P_s = 2K durably stored before it left, REQ-KS-008), and after
    SSN 3K - 1 = P_s - 1 (P_s must still be 3K: no record used it).
    """
    device = persistent
    k = _k(device)
    run = run_handshake(device, SUITE, _role(device))
    sent = SentRecords(run, session_keys(run))
    sent.send(0, "first record")
    power_cycle(device, evidence, run.session)
    sent.send(k, "first record after power cycle 1 (REQ-REPLAY-007: SSN = P_s = K)")
    power_cycle(device, evidence, run.session)
    sent.send(2 * k, "after power cycle 2, right after the record at SSN = K (REQ-KS-008)")
    for ssn in range(2 * k + 1, 3 * k):
        sent.send(ssn, f"SSN {ssn} in order")
    power_cycle(device, evidence, run.session)
    sent.send(3 * k, "after power cycle 3, right after SSN = P_s - 1")
    evidence.update(persist_k=k, ssns=sent.ssns)
    device.client.session_close(run.session)


# -- REQ-REPLAY-008 / 009, REQ-KS-008: the recipient ----------------------------------------


def _accepted(run: HandshakeRun, keys: EpochKeys, piv: int, what: str) -> None:
    data = f"piv {piv}".encode()
    record = keys.tester.seal(piv, bytes([APPLICATION_DATA]) + data)
    try:
        content_type, received, _ = run.device.client.app_receive(run.session, record)
    except StatusError as exc:
        raise AssertionError(
            f"{what}: the record with PIV {piv} was refused: {exc.result.get('alert')!r} "
            f"({exc.result.get('detail')!r})"
        ) from None
    assert (content_type, received) == (APPLICATION_DATA, data), f"{what}: wrong delivery"


def _replay(run: HandshakeRun, keys: EpochKeys, piv: int, what: str) -> None:
    record = keys.tester.seal(piv, bytes([APPLICATION_DATA]) + f"piv {piv}".encode())
    result = expect_alert(
        lambda: run.device.client.app_receive(run.session, record), {"replay_detected"}, what
    )
    assert not result.get("out"), f"{what}: a replay is dropped silently, got {result['out']!r}"


@pytest.mark.requirement("REQ-REPLAY-008", "REQ-REPLAY-009", "REQ-KS-008")
def test_recipient_rejects_every_piv_up_to_the_stored_bound_after_restart(
    persistent: Device, evidence: dict[str, Any]
) -> None:
    """PIVs 0..2 set P_r = K; after a power cycle PIV 1, 5 and K are replays, K + 1 is new.

    PIV K + 1 raised P_r to 2K + 1 before it was accepted (REQ-KS-008): after a second
    power cycle PIV 2K + 1 is a replay and 2K + 2 is accepted.
    """
    device = persistent
    k = _k(device)
    run = run_handshake(device, SUITE, _role(device))
    keys = session_keys(run)
    for piv in (0, 1, 2):
        _accepted(run, keys, piv, "before the power cycle")
    power_cycle(device, evidence, run.session)
    _replay(run, keys, 1, "an accepted PIV after power cycle 1")
    _replay(run, keys, 5, "a never-seen PIV below P_r = K (REQ-REPLAY-009: every bit set)")
    _replay(run, keys, k, "PIV = P_r = K (REQ-REPLAY-009: top = P_r)")
    _accepted(run, keys, k + 1, "PIV P_r + 1 after power cycle 1")
    power_cycle(device, evidence, run.session)
    _replay(run, keys, 2 * k + 1, "PIV = P_r = 2K + 1 after power cycle 2 (REQ-REPLAY-008)")
    _accepted(run, keys, 2 * k + 2, "PIV P_r + 1 after power cycle 2")
    evidence.update(persist_k=k, bounds=[k, 2 * k + 1])
    device.client.session_close(run.session)


# -- REQ-KU-013: count_v ---------------------------------------------------------------------


def _forgery(keys: EpochKeys, piv: int) -> bytes:
    record = bytearray(keys.tester.seal(piv, bytes([APPLICATION_DATA]) + b"forged"))
    record[-1] ^= 0x01  # the tag no longer verifies
    return bytes(record)


@pytest.mark.requirement("REQ-KU-013")
def test_failed_decryptions_still_count_after_a_restart(
    persistent: Device, evidence: dict[str, Any]
) -> None:
    """limit_v = 6: three forgeries, a power cycle, and the context must end by the 6th.

    A device that restarted count_v below the true count would take three more forgeries
    than limit_v allows; REQ-KU-013 lets it count higher (K ahead), never lower.
    """
    device = persistent
    try:
        run = run_handshake(device, SUITE, _role(device), start_options={"limits": {"v": LIMIT_V}})
    except StatusError as exc:
        if exc.command == Command.SESSION_START and exc.status == Status.UNSUPPORTED:
            pytest.skip(
                "not testable: the device does not support SESSION_START limits (§13.5, "
                f"REQ-KU-015): {exc.result.get('error')!r}; the table limit_v is 2^20 forgeries"
            )
        raise
    keys = session_keys(run)
    piv = 100
    for _ in range(FORGED_BEFORE):
        expect_alert(
            partial(device.client.app_receive, run.session, _forgery(keys, piv)),
            {"decrypt_failed"},
            f"forgery with PIV {piv} before the power cycle (count_v < limit_v)",
        )
        piv += 1
    power_cycle(device, evidence, run.session)
    alerts: list[str] = []
    for _ in range(LIMIT_V - FORGED_BEFORE):
        result = expect_alert(
            partial(device.client.app_receive, run.session, _forgery(keys, piv)),
            {"decrypt_failed", "usage_limit_reached"},
            f"forgery with PIV {piv} after the power cycle",
        )
        alerts.append(str(result["alert"]))
        piv += 1
        if result["alert"] == "usage_limit_reached":
            break
    evidence.update(limit_v=LIMIT_V, forged_before=FORGED_BEFORE, alerts_after=alerts)
    assert alerts[-1] == "usage_limit_reached", (
        f"after the power cycle the device took {len(alerts)} more forgeries without reaching "
        f"limit_v = {LIMIT_V} ({FORGED_BEFORE} were counted before it): count_v restarted "
        "below the true count"
    )


# -- REQ-PUBSUB-010: subscriber windows --------------------------------------------------------


@cache
def _publisher() -> tuple[Credential, bytes]:
    identity = generate_identity(
        -48,
        subject="persistence-publisher.conformance.pqiot",
        kid=b"\x50\x52",
        rng=ShakeRng(b"pqiot conformance persistence publisher"),
    )
    return identity.credential, identity.private_key


def _message(seq: int, now: int) -> bytes:
    credential, private_key = _publisher()
    provider = SoftwareSecurityProvider()
    key = provider.add_signature_key(
        "publisher", credential.algorithm, private_key, credential.public_key
    )
    return sign_message(provider, key, kid_bytes(credential.kid), TOPIC, seq, now, b"t=%d" % seq)


def _allow_publisher(device: Device) -> None:
    device.client.cred_load("peer", ccs=_publisher()[0].cred)


def _delivered(device: Device, seq: int, now: int, what: str) -> None:
    try:
        got = device.client.subscribe_deliver(TOPIC, _message(seq, now), now_ms=now)
    except StatusError as exc:
        raise AssertionError(
            f"{what}: seq {seq} was refused: {exc.result.get('alert')!r} "
            f"({exc.result.get('detail')!r})"
        ) from None
    assert got.get("seq") == seq, f"{what}: delivered {got!r}"


def _dropped(device: Device, seq: int, now: int, what: str) -> None:
    message = _message(seq, now)
    expect_alert(
        lambda: device.client.subscribe_deliver(TOPIC, message, now_ms=now),
        {"replay_detected"},
        what,
    )


@pytest.mark.requirement("REQ-PUBSUB-010")
def test_subscriber_windows_survive_a_power_cycle(device: Device, evidence: dict[str, Any]) -> None:
    """seq 0..2 on a topic; after a power cycle seq 2, 5 and K are replays, K + 1 is new."""
    if "subscriber" not in device.statement.roles:
        pytest.skip("not applicable: role subscriber not declared")
    k = _k(device)
    now = int(time.time() * 1000)
    device.client.reset("all")
    _allow_publisher(device)
    for seq in (0, 1, 2):
        _delivered(device, seq, now, "before the power cycle")
    power_cycle(device, evidence)
    _allow_publisher(device)  # credentials loaded without `persist` are gone
    now = int(time.time() * 1000)
    _dropped(device, 2, now, "an accepted seq after the power cycle")
    _dropped(device, 5, now, "a never-seen seq below the stored bound K (REQ-REPLAY-009)")
    _dropped(device, k, now, "seq = the stored bound K")
    _delivered(device, k + 1, now, "seq above the stored bound after the power cycle")
    evidence.update(persist_k=k, topic=TOPIC)
