"""Key update (spec §7.8, §7.9, §6.5): exact records per epoch, collisions, timeouts, limits.

The tester plays its side of the update with hand-sealed records
(:mod:`pqiot.conformance.record_probes`) and the reference's EDHOC_KeyUpdate
for the secrets, so it can pick nonces, collide with the device and replay
old-epoch records at will. Each record the device sends is compared with the
exact §7.1 encoding under the keys the epoch must have.

The count_q limits of REQ-KU-010 and REQ-KU-011 (943,719 and 2^20 records per
sender key) are tested with lowered limits in test_usage_limits.py. Not testable
here: the erasure parts of REQ-KU-004 and REQ-KEYS-010, and the ``rekey`` audit
event of REQ-KU-009 (audit is not observable through TAP).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from pqiot.conformance.conversation import (
    HandshakeRun,
    expect_alert,
    expect_status,
    run_handshake,
)
from pqiot.conformance.device import Device
from pqiot.conformance.record_probes import (
    APPLICATION_DATA,
    KEY_UPDATE,
    KEY_UPDATE_ACK,
    Direction,
    EpochKeys,
    aead_for_suite,
    assert_record,
    session_is_over,
    session_keys,
    single_close,
    wire_out,
)
from pqiot.hil.client import StatusError
from pqiot.reference.tap.codes import Command, Status

SUITE = -102
EXPORT_LABEL = 40000
LOW = bytes([0x01] * 16)
HIGH = bytes([0xF0] * 16)
#: REQ-KU-006: the default key-update timeout.
KEY_UPDATE_TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def _key_update_declared(device: Device) -> None:
    if "key-update" not in device.statement.features:
        pytest.skip("not applicable: feature key-update not declared")


def _role(device: Device) -> str:
    return "responder" if "responder" in device.statement.roles else "initiator"


def _expected_exporter(run: HandshakeRun, nonce: bytes) -> bytes:
    completed = run.peer.session.handshake_result
    assert completed is not None
    return completed.secrets.key_update(nonce).exporter(EXPORT_LABEL, b"", 16)


# -- exact records in the new epoch --------------------------------------------------------


@pytest.mark.requirement("REQ-KU-002", "REQ-REC-001", "REQ-REC-011", "REQ-KEYS-009", "REQ-KEYS-012")
def test_ack_and_next_records_are_exact_in_epoch_1(device: Device, device_role: str) -> None:
    """The tester updates: the ack is epoch 1 SSN 0 (``05 19 00 01 01 <kid>``), data SSN 1.

    Epoch-1 keys come from the updated exporter with an empty ID Context: the
    epoch byte selects the context but never enters the derivation (REQ-KEYS-012).
    """
    run = run_handshake(device, SUITE, device_role)
    old, new = session_keys(run), session_keys(run, [HIGH])
    _, _, out = device.client.app_receive(
        run.session, old.tester.seal(0, bytes([KEY_UPDATE]) + HIGH)
    )
    assert len(out) == 1, f"a key_update must be answered by one key_update_ack, got {out!r}"
    assert_record(new.device, out[0], 0, bytes([KEY_UPDATE_ACK]), "key_update_ack")
    sent = device.client.app_send(run.session, b"epoch one")
    assert_record(new.device, sent[0], 1, b"\x01epoch one", "first application record of epoch 1")
    assert device.client.session_info(run.session).get("epoch") == 1


@pytest.mark.requirement("REQ-KU-001", "REQ-REC-001", "REQ-REC-011", "REQ-KEYS-012")
def test_device_key_update_record_and_restart_at_ssn_0(device: Device, device_role: str) -> None:
    """KEY_UPDATE(N): the key_update is exact under epoch 0; after the ack, SSN restarts at 0."""
    run = run_handshake(device, SUITE, device_role)
    old, new = session_keys(run), session_keys(run, [LOW])
    assert_record(old.device, device.client.app_send(run.session, b"e0")[0], 0, b"\x01e0", "e0")
    update = device.client.key_update(run.session, LOW)
    assert len(update) == 1, f"KEY_UPDATE must send exactly one record, got {len(update)}"
    assert_record(old.device, update[0], 1, bytes([KEY_UPDATE]) + LOW, "key_update record")
    device.client.app_receive(run.session, new.tester.seal(0, bytes([KEY_UPDATE_ACK])))
    sent = device.client.app_send(run.session, b"e1")
    assert_record(new.device, sent[0], 0, b"\x01e1", "first record of the new sender context")


# -- REQ-KU-003: the old recipient context lives until the first new-epoch record -----------


@pytest.mark.conversation
@pytest.mark.requirement("REQ-KU-003")
@pytest.mark.parametrize("starter", ["tester", "device"])
def test_old_epoch_records_are_dropped_after_the_first_new_epoch_record(
    device: Device, starter: str
) -> None:
    """Delayed epoch-0 records are accepted until a valid epoch-1 record arrived, then dropped."""
    run = run_handshake(device, SUITE, _role(device))
    old, new = session_keys(run), session_keys(run, [HIGH])
    delayed = [old.tester.seal(ssn, b"\x01delayed %d" % ssn) for ssn in (0, 1)]
    if starter == "tester":
        update = old.tester.seal(2, bytes([KEY_UPDATE]) + HIGH)
        _, _, out = device.client.app_receive(run.session, update)
        assert len(out) == 1, "the device acknowledges the key update"
        first_new = new.tester.seal(0, b"\x01first of epoch 1")
    else:
        device.client.key_update(run.session, HIGH)
        first_new = new.tester.seal(0, bytes([KEY_UPDATE_ACK]))
    content_type, data, _ = device.client.app_receive(run.session, delayed[0])
    assert (content_type, data) == (1, b"delayed 0"), (
        "before any epoch-1 record from the peer the epoch-0 recipient context must be kept"
    )
    device.client.app_receive(run.session, first_new)
    result = expect_alert(
        lambda: device.client.app_receive(run.session, delayed[1]),
        {"decrypt_failed"},
        "epoch-0 record after the first valid epoch-1 record",
    )
    assert not result.get("out"), f"a dropped record got an answer: {result.get('out')!r}"


# -- REQ-KU-005 / 004: simultaneous key updates ------------------------------------------------


_NONCES = {"tester": (LOW, HIGH), "device": (HIGH, LOW), "equal": (HIGH, HIGH)}


def _collide(device: Device, winner: str) -> tuple[HandshakeRun, EpochKeys, list[bytes]]:
    """Device and tester both send key_update in epoch 0; returns the device's answer."""
    ours, theirs = _NONCES[winner]
    run = run_handshake(device, SUITE, _role(device))
    old = session_keys(run)
    update = device.client.key_update(run.session, ours)
    assert_record(old.device, update[0], 0, bytes([KEY_UPDATE]) + ours, "device key_update")
    _, _, out = device.client.app_receive(run.session, old.tester.seal(0, b"\x02" + theirs))
    return run, session_keys(run, [max(ours, theirs)]), out


def _opened(direction: Direction, record: bytes, content_type: int, what: str) -> bytes:
    """Decrypt a device record of ``direction``'s epoch; check its content type; return body."""
    parsed, plaintext = direction.open(record)
    assert parsed.epoch == direction.epoch, f"{what}: epoch {parsed.epoch}, not {direction.epoch}"
    assert plaintext is not None, f"{what}: does not verify under the winning epoch-1 keys"
    assert plaintext[:1] == bytes([content_type]), f"{what}: content type {plaintext[:1].hex()}"
    return plaintext[1:]


@pytest.mark.requirement("REQ-KU-005")
@pytest.mark.parametrize(
    "winner",
    [
        pytest.param("tester", marks=pytest.mark.requirement("REQ-KU-004")),
        "device",
        "equal",
    ],
)
def test_simultaneous_key_updates_resolve_to_the_larger_nonce(
    device: Device, winner: str, evidence: dict[str, Any]
) -> None:
    """Both sides send key_update in epoch 0; everyone ends on the keys of the larger nonce.

    The tester-wins case also shows REQ-KU-004's observable part: the device
    re-derives epoch 1 from the epoch-0 PRK_out it kept while its update was open.
    With equal nonces the device keeps its own epoch-1 sender context, so only
    the keys are checked here (its SSNs: the test below).
    """
    run, new, out = _collide(device, winner)
    evidence["answer_to_colliding_update"] = [o.hex() for o in out]
    next_ssn = 1
    if winner == "device":
        assert out == [], f"the larger own nonce wins: the peer's update is ignored, got {out!r}"
        _, _, out = device.client.app_receive(
            run.session, new.tester.seal(0, bytes([KEY_UPDATE_ACK]))
        )
        assert out == [], f"an expected key_update_ack gets no answer, got {out!r}"
        next_ssn = 0
    elif winner == "tester":
        assert len(out) == 1, f"the loser must acknowledge the winning update, got {out!r}"
        assert_record(new.device, out[0], 0, bytes([KEY_UPDATE_ACK]), "ack of the winning update")
    else:
        assert len(out) == 1, f"with equal nonces each side sends key_update_ack, got {out!r}"
        assert _opened(new.device, out[0], KEY_UPDATE_ACK, "ack for equal nonces") == b""
    sent = device.client.app_send(run.session, b"after the collision")
    if winner == "equal":
        assert _opened(new.device, sent[0], APPLICATION_DATA, "data") == b"after the collision"
    else:
        assert_record(new.device, sent[0], next_ssn, b"\x01after the collision", "epoch-1 data")
    content_type, data, _ = device.client.app_receive(
        run.session, new.tester.seal(1, b"\x01winner keys")
    )
    assert (content_type, data) == (1, b"winner keys")
    assert device.client.export(run.session, EXPORT_LABEL, b"", 16) == _expected_exporter(
        run, max(_NONCES[winner])
    ), "the exporter must follow the winning nonce"


@pytest.mark.requirement("REQ-REC-011")
def test_equal_nonce_collision_keeps_the_new_sender_context_at_ssn_0(device: Device) -> None:
    """Equal nonces: the epoch-1 sender context the device created has sent nothing yet,
    so its key_update_ack (the first record of the epoch) carries SSN 0, then 1, 2, ..."""
    run, new, out = _collide(device, "equal")
    assert len(out) == 1, f"with equal nonces the device sends key_update_ack, got {out!r}"
    assert_record(new.device, out[0], 0, bytes([KEY_UPDATE_ACK]), "first record of epoch 1")
    sent = device.client.app_send(run.session, b"next")
    assert_record(new.device, sent[0], 1, b"\x01next", "second record of epoch 1")


# -- REQ-KU-006: timeout ---------------------------------------------------------------------


@pytest.mark.requirement("REQ-KU-006")
def test_unanswered_key_update_ends_the_session_after_the_timeout(device: Device) -> None:
    """No record of epoch 1 for more than 10 s: the session is closed, never retransmitted.

    Takes the full default timeout (about 11 s); a device configured with a
    longer timeout must be certified with its default configuration.
    """
    run = run_handshake(device, SUITE, _role(device))
    new = session_keys(run, [HIGH])
    device.client.key_update(run.session, HIGH)
    time.sleep(KEY_UPDATE_TIMEOUT + 1.0)
    try:
        out = device.client.app_send(run.session, b"after the timeout")
    except StatusError as exc:
        assert exc.status in (Status.INVALID_STATE, Status.PROTOCOL_ALERT), (exc.status, exc.result)
        out = wire_out(exc.result)
        for record in out:
            _, plaintext = new.device.open(bytes(record))
            assert plaintext is not None and plaintext[0] != KEY_UPDATE, (
                "the key_update must not be retransmitted"
            )
        if out:
            alert = single_close(new.device, out, 0, "close after the key-update timeout")
            assert alert == "key_update_failed", f"close names {alert!r}"
    else:
        raise AssertionError(
            f"{KEY_UPDATE_TIMEOUT + 1:.0f} s after an unanswered key_update the session still "
            f"sends application data ({len(out)} record(s)); it must be closed with "
            "key_update_failed"
        )
    expect_status(
        lambda: device.client.export(run.session, EXPORT_LABEL, b"", 16),
        {Status.INVALID_STATE},
        "EXPORT after the key-update timeout closed the session",
    )


# -- REQ-KU-007: unexpected ack, epoch 255 ----------------------------------------------------


@pytest.mark.conversation
@pytest.mark.requirement("REQ-KU-007", "REQ-REC-008")
def test_key_update_ack_without_an_update_closes_with_unexpected_message(device: Device) -> None:
    run = run_handshake(device, SUITE, _role(device))
    keys = session_keys(run)
    result = expect_alert(
        lambda: device.client.app_receive(run.session, keys.tester.seal(0, b"\x03")),
        {"unexpected_message"},
        "key_update_ack while no key update is outstanding",
    )
    alert = single_close(keys.device, result.get("out"), 0, "close after an unexpected ack")
    assert alert == "unexpected_message", f"the close record names {alert!r}"
    session_is_over(device, run.session, keys.tester.seal(1, b"\x01late"), "unexpected ack")


@pytest.mark.conversation
@pytest.mark.requirement("REQ-KU-007", "REQ-KU-002", "REQ-REC-001")
def test_epoch_255_refuses_further_key_updates(device: Device, evidence: dict[str, Any]) -> None:
    """255 tester-started updates reach epoch 255; then no update either way.

    The device's own KEY_UPDATE must be refused without a record, and the
    tester's key_update must close the session with key_update_failed.
    """
    run = run_handshake(device, SUITE, _role(device))
    completed = run.peer.session.handshake_result
    assert completed is not None
    nonces: list[bytes] = []
    keys = session_keys(run)
    for epoch in range(255):
        nonce = epoch.to_bytes(2, "big") * 8
        _, _, out = device.client.app_receive(
            run.session, keys.tester.seal(0, bytes([KEY_UPDATE]) + nonce)
        )
        nonces.append(nonce)
        keys = session_keys(run, nonces)
        assert len(out) == 1, f"update to epoch {epoch + 1}: expected one ack, got {len(out)}"
        if epoch + 1 in (1, 2, 255):
            assert_record(keys.device, out[0], 0, bytes([KEY_UPDATE_ACK]), f"ack {epoch + 1}")
    info = device.client.session_info(run.session)
    evidence["epoch"] = info.get("epoch")
    assert info.get("epoch") == 255, f"SESSION_INFO epoch {info.get('epoch')!r}, expected 255"
    refused = expect_status(
        lambda: device.client.key_update(run.session, HIGH),
        {Status.PROTOCOL_ALERT, Status.INVALID_STATE},
        "KEY_UPDATE at epoch 255 (a new handshake is required instead)",
    )
    assert not refused.get("out"), f"no key_update may be sent at epoch 255: {refused.get('out')}"
    result = expect_alert(
        lambda: device.client.app_receive(run.session, keys.tester.seal(1, b"\x02" + HIGH)),
        {"key_update_failed"},
        "key_update received at epoch 255",
    )
    alert = single_close(keys.device, result.get("out"), 1, "close at epoch 255")
    assert alert == "key_update_failed", f"the close record names {alert!r}"


# -- REQ-KU-012: integrity limit v ------------------------------------------------------------

#: Lowered limit_v (SESSION_START ``limits``, §13.5, REQ-KU-015) when the device supports it.
LOWERED_V = 16


def _limit_v_session(device: Device) -> tuple[HandshakeRun, int]:
    """A session and its limit_v: lowered to 16 if the device supports SESSION_START limits,
    else the table's 2^14 of AES-CCM-16-64-128 (the 2^20 of the other AEADs is out of reach)."""
    suite = next((s for s in (-101, -108) if s in device.statement.suites), None)
    try:
        run = run_handshake(
            device, suite or SUITE, _role(device), start_options={"limits": {"v": LOWERED_V}}
        )
        return run, LOWERED_V
    except StatusError as exc:
        if exc.command != Command.SESSION_START or exc.status != Status.UNSUPPORTED:
            raise
    if suite is None:
        pytest.skip(
            "not applicable: no AES-CCM-16-64-128 suite (-101, -108) declared and no "
            "SESSION_START limits (§13.5) to lower limit_v"
        )
    return run_handshake(device, suite, _role(device)), 1 << 14


@pytest.mark.conversation
@pytest.mark.requirement("REQ-KU-012")
def test_recipient_context_ends_at_limit_v(
    device: Device, metrics: list[dict[str, Any]], evidence: dict[str, Any]
) -> None:
    """limit_v forged records: limit_v - 1 are dropped silently, the last ends the session.

    With SESSION_START ``limits`` the device runs with limit_v = 16 (REQ-KU-015); without it
    only AES-CCM-16-64-128 has a reachable limit_v, 2^14 (§7.9): 16,384 APP_RECEIVE round trips.
    """
    run, limit_v = _limit_v_session(device)
    evidence.update(suite=run.suite, limit_v=limit_v)
    keys = session_keys(run)
    forger = dataclasses.replace(keys.tester, key=bytes(aead_for_suite(run.suite).key_len))
    # Empty application data: every forgery fails its tag whatever it carries, and the
    # shortest record keeps 2^14 requests over a slow emulated UART affordable.
    forged = bytes([APPLICATION_DATA])
    started = time.perf_counter()
    for count in range(1, limit_v):
        try:
            accepted = device.client.app_receive(run.session, forger.seal(count, forged))
        except StatusError as exc:
            assert exc.status == Status.PROTOCOL_ALERT, (count, exc.status, exc.result)
            assert exc.result.get("alert") == "decrypt_failed", (count, exc.result)
            assert not exc.result.get("out"), f"forgery #{count} got {exc.result.get('out')!r}"
        else:
            raise AssertionError(f"forged record #{count} was accepted: {accepted!r}")
    result = expect_alert(
        lambda: device.client.app_receive(run.session, forger.seal(limit_v, forged)),
        {"decrypt_failed", "usage_limit_reached"},
        f"forged record #{limit_v} (count_v reaches limit_v)",
    )
    metrics.append(
        {
            "name": "limit_v_run_seconds",
            "value": round(time.perf_counter() - started, 3),
            "unit": "s",
        }
    )
    alert = single_close(keys.device, result.get("out"), 0, "close at limit_v")
    assert alert == "usage_limit_reached", f"the close record names {alert!r}"
    session_is_over(
        device, run.session, keys.tester.seal(limit_v + 1, bytes([APPLICATION_DATA])), "limit_v"
    )
