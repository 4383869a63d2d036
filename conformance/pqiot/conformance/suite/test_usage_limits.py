"""Usage limits of a sender key (spec §7.9): the key-update threshold and limit_q.

With the table's limit_q of 2^20 the threshold is 943,719 records per sender key:
out of reach in a test run. A device that supports SESSION_START ``limits``
(§13.5, REQ-KU-015: local configuration may lower q and v, never raise them)
runs the same rules with a small q; one that does not answers status 3 and
the tests here are skipped, leaving REQ-KU-010 and REQ-KU-011 ``untested``.

The device draws the key_update nonce from its own RNG (REQ-KU-001), so the
tester cannot predict it: it opens the device's key_update record with the
epoch-0 keys, reads N and derives the epoch-1 keys from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from pqiot.conformance.conversation import HandshakeRun, run_handshake
from pqiot.conformance.device import Device
from pqiot.conformance.record_probes import (
    APPLICATION_DATA,
    KEY_UPDATE,
    KEY_UPDATE_ACK,
    EpochKeys,
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
#: Lowered limit_q of the threshold test: threshold 40 - 4 = 36.
Q_THRESHOLD_TEST = 40
#: Lowered limit_q of the limit test, the smallest REQ-KU-015 allows: threshold 18. Small, so
#: that the unanswered key update stays well inside the 10 s key-update timeout (REQ-KU-006).
Q_LIMIT_TEST = 20


def threshold(q: int) -> int:
    """§7.9: the key-update threshold q - floor(q/10)."""
    return q - q // 10


@pytest.fixture(autouse=True)
def _key_update_declared(device: Device) -> None:
    if "key-update" not in device.statement.features:
        pytest.skip("not applicable: feature key-update not declared")


def _role(device: Device) -> str:
    return "responder" if "responder" in device.statement.roles else "initiator"


def limited_handshake(device: Device, **limits: int) -> HandshakeRun:
    """A -102 handshake with SESSION_START ``limits``; skip if the device does not support it."""
    try:
        return run_handshake(device, SUITE, _role(device), start_options={"limits": limits})
    except StatusError as exc:
        if exc.command == Command.SESSION_START and exc.status == Status.UNSUPPORTED:
            pytest.skip(
                "not testable: the device does not support SESSION_START limits (§13.5, "
                f"REQ-KU-015): {exc.result.get('error')!r}; the table limits need 943,719 records"
            )
        raise


@dataclass
class KeyUpdateSeen:
    """The device's own key_update: its SSN in epoch 0 and the nonce N it carries."""

    ssn: int
    nonce: bytes
    data_ssns: list[int]  # SSNs of the epoch-0 application records before it


def send_until_key_update(run: HandshakeRun, keys: EpochKeys, sends: int) -> KeyUpdateSeen | None:
    """APP_SEND up to ``sends`` times; every record must verify under the epoch-0 keys.

    Stops after the APP_SEND whose ``out`` carries a key_update (REQ-KU-010 puts it right
    after the record that reached the threshold). None: no key_update in ``sends`` sends.
    """
    data_ssns: list[int] = []
    for index in range(sends):
        body = b"record %d" % index
        for record in run.device.client.app_send(run.session, body):
            parsed, plaintext = keys.device.open(record)
            assert parsed.epoch is None, (
                f"APP_SEND #{index + 1}: record of epoch {parsed.epoch} before any key_update"
            )
            assert plaintext is not None, (
                f"APP_SEND #{index + 1}: record SSN {parsed.ssn} does not verify under epoch 0"
            )
            if plaintext[0] == KEY_UPDATE:
                nonce = plaintext[1:]
                assert len(nonce) == 16, f"key_update body is {len(nonce)} bytes, not 16"
                assert_record(keys.device, record, parsed.ssn, plaintext, "the key_update record")
                return KeyUpdateSeen(parsed.ssn, nonce, data_ssns)
            assert plaintext == bytes([APPLICATION_DATA]) + body, (
                f"APP_SEND #{index + 1}: unexpected plaintext {plaintext.hex()}"
            )
            assert_record(keys.device, record, parsed.ssn, plaintext, f"APP_SEND #{index + 1}")
            data_ssns.append(parsed.ssn)
    return None


@pytest.mark.requirement("REQ-KU-010", "REQ-KU-001", "REQ-KU-015")
def test_device_starts_a_key_update_when_count_q_reaches_the_threshold(
    device: Device, evidence: dict[str, Any]
) -> None:
    """limit_q 40: once 36 records used the sender key the device sends key_update itself.

    A device MAY update earlier (REQ-KU-014), so the key_update may come at any SSN up
    to the threshold, but no epoch-0 application record may use SSN 36 or later. The
    update must then work: the tester derives epoch 1 from the nonce it read,
    acknowledges, and the device's next record and its exporter follow that nonce.
    """
    q = Q_THRESHOLD_TEST
    run = limited_handshake(device, q=q)
    old = session_keys(run)
    seen = send_until_key_update(run, old, threshold(q) + 1)
    assert seen is not None, (
        f"count_q reached the key-update threshold {threshold(q)} of limit_q {q} "
        f"(after {threshold(q) + 1} APP_SENDs) and the device sent no key_update"
    )
    evidence.update(key_update_ssn=seen.ssn, nonce=seen.nonce.hex(), threshold=threshold(q))
    assert seen.ssn <= threshold(q), (
        f"key_update at SSN {seen.ssn}: count_q was {seen.ssn} > threshold {threshold(q)}"
    )
    assert all(ssn < threshold(q) for ssn in seen.data_ssns)
    new = session_keys(run, [seen.nonce])
    _, _, out = device.client.app_receive(run.session, new.tester.seal(0, bytes([KEY_UPDATE_ACK])))
    assert out == [], f"the expected key_update_ack got an answer: {out!r}"
    sent = device.client.app_send(run.session, b"epoch one")
    assert len(sent) == 1, f"the first epoch-1 APP_SEND produced {len(sent)} records"
    assert_record(new.device, sent[0], 0, b"\x01epoch one", "first record of epoch 1")
    completed = run.peer.session.handshake_result
    assert completed is not None
    expected = completed.secrets.key_update(seen.nonce).exporter(EXPORT_LABEL, b"", 16)
    assert device.client.export(run.session, EXPORT_LABEL, b"", 16) == expected, (
        "the exporter does not follow the nonce of the device's key_update"
    )


@pytest.mark.requirement("REQ-KU-011", "REQ-KU-015")
def test_unfinished_key_update_ends_with_a_close_at_limit_q(
    device: Device, evidence: dict[str, Any]
) -> None:
    """limit_q 20, the tester never answers the device's key_update (threshold 18).

    The epoch-1 sender key counts on while the update is outstanding, and no second
    key update may start (REQ-KU-008). The encryption that brings its count_q to 20
    (SSN 19) must be a close record with usage_limit_reached; then the session is
    over, and a device with AUDIT_READ must have written limit_exceeded (q, 20).
    """
    q = Q_LIMIT_TEST
    run = limited_handshake(device, q=q)
    seen = send_until_key_update(run, session_keys(run), threshold(q) + 1)
    assert seen is not None, f"no key_update by the threshold {threshold(q)} of limit_q {q}"
    new = session_keys(run, [seen.nonce])
    for ssn in range(q - 1):
        body = b"epoch 1 record %d" % ssn
        try:
            out = device.client.app_send(run.session, body)
        except StatusError as exc:
            raise AssertionError(
                f"APP_SEND at epoch-1 SSN {ssn} refused ({exc.result.get('alert')!r}): only the "
                f"encryption that brings count_q to limit_q {q} (SSN {q - 1}) may end the session"
            ) from None
        assert len(out) == 1, (
            f"SSN {ssn}: {len(out)} records; no second key update while one is outstanding"
        )
        assert_record(new.device, out[0], ssn, bytes([APPLICATION_DATA]) + body, f"SSN {ssn}")
    try:
        out = device.client.app_send(run.session, b"one too many")
    except StatusError as exc:
        assert exc.status == Status.PROTOCOL_ALERT, (exc.status, exc.result)
        assert exc.result.get("alert") == "usage_limit_reached", exc.result
        close = wire_out(exc.result)
    else:
        raise AssertionError(
            f"the sender key encrypted application data at SSN {q - 1}: count_q reached "
            f"limit_q {q}; got {len(out)} record(s)"
        )
    alert = single_close(new.device, close, q - 1, "the record that brings count_q to limit_q")
    assert alert == "usage_limit_reached", f"the close record names {alert!r}"
    session_is_over(device, run.session, new.tester.seal(0, b"\x01late"), "limit_q")
    if not device.declares("commands", int(Command.AUDIT_READ)):
        evidence["audit"] = "not exposed through AUDIT_READ: the limit_exceeded event is unchecked"
        return
    records = [json.loads(line) for line in device.client.audit_read_all().events]
    events = [r for r in records if r.get("event") == "limit_exceeded"]
    evidence["limit_exceeded"] = events
    assert len(events) == 1, f"expected one limit_exceeded event, got {events!r}"
    detail = events[0].get("detail")
    assert isinstance(detail, dict) and detail.get("limit") == "q", events[0]
    assert detail.get("value") == q, f"limit_exceeded value {detail.get('value')!r}, not {q}"
