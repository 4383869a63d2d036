"""Audit events (chapter 9) read through the optional TAP command AUDIT_READ (§13.9).

Chapter 9 leaves the destination of audit events to the deployment, so these
requirements can only be tested on a device that exposes its events through
AUDIT_READ (97, REQ-TAP-021). On any other device every test here is skipped
with the reason below and the requirements stay ``untested``.

The scenario is always the same kind: the device runs real sessions with the
reference, alerts are provoked through the protocol path (never by fault
injection, REQ-TAP-020), and the events the device emitted are read back.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pytest

from pqiot.conformance.conversation import (
    HandshakeRun,
    expect_status,
    other_role,
    provision,
    run_handshake,
    start_session,
)
from pqiot.conformance.device import Device
from pqiot.conformance.peer import ReferencePeer, stranger, suite_parties
from pqiot.conformance.record_probes import EpochKeys, epoch_keys
from pqiot.hil.client import StatusError
from pqiot.reference import cbor
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.session import Session
from pqiot.reference.tap.codes import Command, Status

SUITE = -102
NOT_EXPOSED = f"device does not expose its audit log through TAP {int(Command.AUDIT_READ)}"

#: §9.1: the six keys, in the order REQ-AUDIT-007 recommends.
KEYS = ("ts", "event", "severity", "peer", "suite", "detail")
#: §9.2: each event's severity (peer_authenticated: warning when trust is tofu).
SEVERITY = {
    "key_generated": "info",
    "peer_authenticated": "info",
    "auth_failed": "error",
    "replay_dropped": "warning",
    "decrypt_failed": "warning",
    "rekey": "info",
    "tofu_accept": "warning",
    "limit_exceeded": "warning",
    "handshake_failed": "error",
    "handshake_completed": "info",
    "retry": "info",
    "give_up": "error",
}
#: §9.2: detail fields every event of the type carries (optional ones left out).
DETAIL_FIELDS = {
    "key_generated": ("alg", "kid"),
    "peer_authenticated": ("role", "method", "trust", "sub"),
    "auth_failed": ("alert", "stage"),
    "replay_dropped": ("context", "reason"),
    "decrypt_failed": ("context",),
    "rekey": ("epoch", "initiated_by"),
    "tofu_accept": ("kid", "sub", "fingerprint"),
    "limit_exceeded": ("limit", "value"),
    "handshake_failed": ("alert", "origin", "state"),
    "handshake_completed": ("role", "method", "c_i", "c_r", "duration_ms"),
    "retry": ("attempt", "delay_ms", "reason"),
    "give_up": ("attempts", "reason"),
}
_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_LOWER_HEX = re.compile(r"(?:[0-9a-f]{2})+")
#: Secrets are searched for as any 12-byte window: long enough to be no coincidence.
_WINDOW = 12


# -- reading the log ---------------------------------------------------------------------


@pytest.fixture
def audit(device: Device) -> AuditTap:
    if not device.declares("commands", int(Command.AUDIT_READ)):
        pytest.skip(NOT_EXPOSED)
    return AuditTap(device)


class AuditTap:
    """AUDIT_READ as the tests use it: the raw lines, and the lines parsed."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.lost = 0

    def lines(self) -> list[str]:
        read = self.device.client.audit_read_all()
        assert not read.more, "AUDIT_READ kept answering more = true"
        self.lost += read.lost
        return read.events

    def drain(self) -> None:
        self.lines()
        self.lost = 0

    def records(self) -> list[dict[str, Any]]:
        return [parse(line) for line in self.lines()]


def parse(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise AssertionError(f"REQ-AUDIT-001: not a JSON text: {exc}: {line!r}") from None
    assert isinstance(value, dict), f"REQ-AUDIT-001: not a JSON object: {line!r}"
    return value


def of_type(records: Iterable[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == event]


def detail(record: dict[str, Any]) -> dict[str, Any]:
    value = record.get("detail")
    assert isinstance(value, dict), f"detail is not an object: {record!r}"
    return value


def assert_detail_fields(record: dict[str, Any]) -> None:
    """REQ-AUDIT-005: the event carries the detail fields §9.2 gives it."""
    event = str(record.get("event"))
    missing = [f for f in DETAIL_FIELDS.get(event, ()) if f not in detail(record)]
    if event == "replay_dropped" and not {"piv", "seq"} & set(detail(record)):
        missing.append("piv/seq")
    assert not missing, f"{event} lacks detail field(s) {missing} of §9.2: {record!r}"


# -- scenarios ---------------------------------------------------------------------------


def _dropped(run: HandshakeRun, record: bytes, what: str) -> None:
    """The device must not deliver ``record``; status 7 (the drop's alert) is the usual answer."""
    try:
        content_type, data, _ = run.device.client.app_receive(run.session, record)
    except StatusError as exc:
        assert exc.status == Status.PROTOCOL_ALERT, f"{what}: {exc}"
        return
    assert content_type != 1, f"{what} was delivered as application data {data!r}"


def _forged(run: HandshakeRun, data: bytes) -> bytes:
    record = bytearray(run.peer.protect(data))
    record[-1] ^= 0x01
    return bytes(record)


def _record_traffic(run: HandshakeRun) -> bool:
    """Records both ways, a replayed record and one with a broken tag (both to be dropped).

    Returns whether the device refused the replay. Refusing it is REQ-REPLAY-002, judged by
    test_negative.py, not here: a device that delivers it only emits no ``replay_dropped``.
    """
    assert run.to_device(b"audit ping") == b"audit ping"
    assert run.from_device(b"audit pong") == b"audit pong"
    record = run.peer.protect(b"replayed")
    run.device.client.app_receive(run.session, record)
    try:
        content_type, _, _ = run.device.client.app_receive(run.session, record)
    except StatusError as exc:
        assert exc.status == Status.PROTOCOL_ALERT, f"a replayed record: {exc}"
        refused = True
    else:
        refused = content_type != 1
    _dropped(run, _forged(run, b"forged"), "a record with a broken tag")
    return refused


def _require_replay_refused(refused: bool) -> None:
    if not refused:
        pytest.skip(
            "precondition not met: the device delivered a replayed record (REQ-REPLAY-002 "
            "fails, see test_negative.py); this audit check needs replays to be refused"
        )


def _device_key_update(run: HandshakeRun, nonce: bytes) -> None:
    """The device starts a key update; the reference answers it; the device gets the ack."""
    update = run.device.client.key_update(run.session, nonce)
    assert len(update) == 1, f"KEY_UPDATE produced {len(update)} records"
    run.peer.unprotect(update[0])
    acks = run.peer.records_out()
    assert len(acks) == 1, "the reference did not acknowledge the key update"
    run.device.client.app_receive(run.session, acks[0])


def _ordinary_session(device: Device, device_role: str) -> list[str]:
    """A complete session: handshake, records, drops, key update if declared, close."""
    run = run_handshake(device, SUITE, device_role)
    _record_traffic(run)
    if "key-update" in device.statement.features:
        _device_key_update(run, bytes(range(16)))
    device.client.session_close(run.session)
    run.peer.close()
    return AuditTap(device).lines()


# -- AUDIT_READ itself (REQ-TAP-021) -----------------------------------------------------


@pytest.mark.requirement("REQ-TAP-021")
def test_audit_read_returns_each_event_once_and_reset_all_empties_it(
    device: Device, audit: AuditTap
) -> None:
    role = "responder" if "responder" in device.statement.roles else "initiator"
    run = run_handshake(device, SUITE, role)
    first = device.client.audit_read_all()
    assert first.events, "a completed handshake buffered no audit event"
    assert (first.lost, first.more) == (0, False), first
    again = device.client.audit_read()
    assert again.events == [], f"AUDIT_READ returned events it had already returned: {again}"
    assert run.to_device(b"audit reset") == b"audit reset"
    _dropped(run, _forged(run, b"before reset"), "a record with a broken tag")
    device.client.reset("all")
    assert device.client.audit_read().events == [], "RESET all must empty the audit buffer"
    run.peer.close()


# -- §9.1 form (REQ-AUDIT-001, -003, -007) -----------------------------------------------


@pytest.mark.requirement("REQ-AUDIT-001")
def test_every_event_is_one_json_object_with_the_six_keys(
    device: Device, audit: AuditTap, device_role: str
) -> None:
    lines = _ordinary_session(device, device_role)
    assert lines, "a handshake and records produced no audit event at all"
    for line in lines:
        assert "\n" not in line and "\r" not in line, f"an event spans lines: {line!r}"
        record = parse(line)
        assert set(record) == set(KEYS), f"keys {sorted(record)} are not {list(KEYS)}: {line}"
        assert isinstance(record["ts"], str), line
        assert isinstance(record["event"], str), line
        assert isinstance(record["severity"], str), line
        peer = record["peer"]
        assert peer is None or (isinstance(peer, str) and _LOWER_HEX.fullmatch(peer)), (
            f"peer must be null or a lowercase hex kid: {line}"
        )
        suite = record["suite"]
        assert suite is None or (isinstance(suite, int) and not isinstance(suite, bool)), line
        for key, value in detail(record).items():
            assert value is None or isinstance(value, str | int | bool), (
                f"detail.{key} is not a string, integer, boolean or null: {line}"
            )


@pytest.mark.requirement("REQ-AUDIT-003")
def test_timestamps_are_utc_with_exactly_three_fraction_digits(
    device: Device, audit: AuditTap
) -> None:
    role = "responder" if "responder" in device.statement.roles else "initiator"
    for record in map(parse, _ordinary_session(device, role)):
        ts = record.get("ts")
        assert isinstance(ts, str) and _TS.fullmatch(ts), (
            f"ts {ts!r} is not YYYY-MM-DDTHH:MM:SS.mmmZ"
        )
        datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")  # a real date and time


@pytest.mark.requirement("REQ-AUDIT-007")
def test_keys_are_written_in_the_schema_order(device: Device, audit: AuditTap) -> None:
    role = "responder" if "responder" in device.statement.roles else "initiator"
    for line in _ordinary_session(device, role):
        assert tuple(parse(line)) == KEYS, f"keys not in the order {list(KEYS)}: {line}"


# -- names and severities (REQ-AUDIT-002) ------------------------------------------------


@pytest.mark.requirement("REQ-AUDIT-002")
def test_event_names_and_severities_are_those_of_the_table(
    device: Device, audit: AuditTap, device_role: str
) -> None:
    lines = _ordinary_session(device, device_role)
    _refused_session(device, device_role)
    lines += audit.lines()
    for record in map(parse, lines):
        event = record.get("event")
        assert event in SEVERITY, f"event {event!r} is not one of the twelve names of §9.2"
        expected = SEVERITY[event]
        if event == "peer_authenticated" and detail(record).get("trust") == "tofu":
            expected = "warning"
        assert record.get("severity") == expected, (
            f"{event} has severity {record.get('severity')!r}, §9.2 gives {expected!r}"
        )


def _refused_session(device: Device, device_role: str) -> None:
    """A handshake the device must refuse (the peer is unknown): an auth_failed event."""
    parties = suite_parties(SUITE)
    kid, _ = provision(device, SUITE, device_role)
    peer = ReferencePeer(
        other_role(device_role), [SUITE], stranger(), [parties[device_role].credential]
    )
    session, out = start_session(device, device_role, [SUITE], cred=kid)
    to_device = peer.handshake_out() if device_role == "responder" else peer.deliver(out[0])
    for _ in range(3):
        assert to_device, "the reference stopped before the device refused the stranger"
        try:
            out, _ = device.client.session_deliver(session, to_device[0])
        except StatusError as exc:
            assert exc.status == Status.PROTOCOL_ALERT, exc.result
            peer.close()
            return
        to_device = peer.deliver(out[0])
    raise AssertionError("the device accepted a handshake with an unknown credential")


# -- what must be audited (REQ-AUDIT-005, REQ-ERR-006, REQ-KU-009) ------------------------


@pytest.mark.requirement("REQ-AUDIT-005")
def test_completed_handshake_is_audited_with_its_details(
    device: Device, audit: AuditTap, device_role: str
) -> None:
    run = run_handshake(device, SUITE, device_role)
    completed = run.peer.session.handshake_result
    assert completed is not None
    records = audit.records()
    done = of_type(records, "handshake_completed")
    assert len(done) == 1, f"expected one handshake_completed, got {[r['event'] for r in records]}"
    assert_detail_fields(done[0])
    fields = detail(done[0])
    assert (fields.get("role"), fields.get("method")) == (device_role, 0), fields
    assert (fields.get("c_i"), fields.get("c_r")) == (completed.c_i.hex(), completed.c_r.hex()), (
        f"c_i/c_r {fields.get('c_i')!r}/{fields.get('c_r')!r} are not the session's "
        f"{completed.c_i.hex()}/{completed.c_r.hex()}"
    )
    assert done[0].get("suite") == SUITE
    authenticated = of_type(records, "peer_authenticated")
    assert len(authenticated) == 1, "the peer's signature was verified: peer_authenticated"
    assert_detail_fields(authenticated[0])
    assert detail(authenticated[0]).get("trust") == "allow-list"
    tester = suite_parties(SUITE)[other_role(device_role)].credential
    assert detail(authenticated[0]).get("sub") == tester.subject
    run.peer.close()


def _alert_malformed_message(device: Device, device_role: str) -> None:
    kid, _ = provision(device, SUITE, device_role)
    session, _ = start_session(device, device_role, [SUITE], cred=kid)
    expect_status(
        lambda: device.client.session_deliver(session, b"\x00\xff"),
        {Status.PROTOCOL_ALERT},
        "a malformed handshake message",
    )


def _alert_received(device: Device, device_role: str) -> None:
    """ERR_CODE 1 in WAIT_M2 (device Initiator) or WAIT_M3 (device Responder)."""
    kid, tester = provision(device, SUITE, device_role)
    session, _ = start_session(device, device_role, [SUITE], cred=kid)
    if device_role == "responder":
        own = suite_parties(SUITE)[device_role]
        peer = ReferencePeer("initiator", [SUITE], tester, [own.credential])
        device.client.session_deliver(session, peer.handshake_out()[0])
        peer.close()
    expect_status(
        lambda: device.client.session_deliver(
            session, cbor.encode_sequence(1, "unspecified_error: audit test")
        ),
        {Status.PROTOCOL_ALERT},
        "an EDHOC error message from the peer",
    )


#: (scenario, event, detail values the event must carry) — chapter 10 §10.2 "audit".
_ALERT_CASES = [
    pytest.param(
        _refused_session,
        "auth_failed",
        {"alert": "unknown_credential"},
        id="unknown_credential",
    ),
    pytest.param(
        _alert_malformed_message,
        "handshake_failed",
        {"alert": "decode_error", "origin": "local"},
        id="decode_error-local",
    ),
    pytest.param(
        _alert_received,
        "handshake_failed",
        {"alert": "unspecified_error", "origin": "peer", "err_code": 1},
        id="unspecified_error-peer",
    ),
]


def _last_event(audit: AuditTap, event: str) -> dict[str, Any]:
    records = audit.records()
    matching = of_type(records, event)
    assert matching, f"no {event} event; the device wrote {[r.get('event') for r in records]}"
    return matching[-1]


@pytest.mark.requirement("REQ-AUDIT-005", "REQ-ERR-006")
@pytest.mark.parametrize(("scenario", "event", "values"), _ALERT_CASES)
def test_alert_raised_or_received_is_audited_with_its_name(
    device: Device,
    audit: AuditTap,
    device_role: str,
    scenario: Any,
    event: str,
    values: dict[str, Any],
) -> None:
    """The §10.2 audit event, with detail.alert (and origin, err_code where §9.2 has them)."""
    scenario(device, device_role)
    fields = detail(_last_event(audit, event))
    wrong = {k: fields.get(k) for k, v in values.items() if fields.get(k) != v}
    assert not wrong, f"{event} detail {fields} differs from {values} in {wrong}"


@pytest.mark.requirement("REQ-AUDIT-005")
@pytest.mark.parametrize(("scenario", "event", "values"), _ALERT_CASES)
def test_alert_events_carry_every_detail_field_of_the_table(
    device: Device,
    audit: AuditTap,
    device_role: str,
    scenario: Any,
    event: str,
    values: dict[str, Any],
) -> None:
    scenario(device, device_role)
    assert_detail_fields(_last_event(audit, event))


@pytest.mark.requirement("REQ-AUDIT-005", "REQ-ERR-006")
def test_dropped_records_are_audited(device: Device, audit: AuditTap, device_role: str) -> None:
    """replay_detected -> replay_dropped, decrypt_failed -> decrypt_failed (§10.2)."""
    run = run_handshake(device, SUITE, device_role)
    _require_replay_refused(_record_traffic(run))
    records = audit.records()
    for event in ("replay_dropped", "decrypt_failed"):
        assert of_type(records, event), (
            f"no {event}; the device wrote {[r.get('event') for r in records]}"
        )
    run.peer.close()


@pytest.mark.requirement("REQ-AUDIT-005")
def test_dropped_record_events_carry_the_detail_fields_of_the_table(
    device: Device, audit: AuditTap, device_role: str
) -> None:
    run = run_handshake(device, SUITE, device_role)
    _require_replay_refused(_record_traffic(run))
    records = audit.records()
    for event in ("replay_dropped", "decrypt_failed"):
        matching = of_type(records, event)
        assert matching, f"no {event}; the device wrote {[r.get('event') for r in records]}"
        assert_detail_fields(matching[-1])
        assert detail(matching[-1]).get("context") == "record", matching[-1]
    run.peer.close()


def _rekey_events(device: Device, audit: AuditTap, device_role: str) -> list[dict[str, Any]]:
    if "key-update" not in device.statement.features:
        pytest.skip("not applicable: feature key-update not declared")
    run = run_handshake(device, SUITE, device_role)
    audit.drain()
    _device_key_update(run, bytes(range(16)))
    run.peer.close()
    return of_type(audit.records(), "rekey")


@pytest.mark.requirement("REQ-KU-009")
def test_completed_key_update_is_audited_as_rekey_with_the_new_epoch(
    device: Device, audit: AuditTap, device_role: str
) -> None:
    rekeys = _rekey_events(device, audit, device_role)
    assert len(rekeys) == 1, f"one completed key update, {len(rekeys)} rekey event(s)"
    assert detail(rekeys[0]).get("epoch") == 1, f"rekey must name the new epoch: {rekeys[0]}"


@pytest.mark.requirement("REQ-AUDIT-005")
def test_rekey_event_says_who_started_the_key_update(
    device: Device, audit: AuditTap, device_role: str
) -> None:
    rekeys = _rekey_events(device, audit, device_role)
    assert rekeys, "no rekey event after a completed key update"
    assert_detail_fields(rekeys[0])
    assert detail(rekeys[0]).get("initiated_by") == "local", rekeys[0]


# -- no secrets (REQ-AUDIT-004) ----------------------------------------------------------


def _traced_handshake(
    device: Device, device_role: str
) -> tuple[HandshakeRun, dict[str, bytes], bytes]:
    """A handshake whose reference side records every intermediate value (RFC 9529 names)."""
    kid, tester = provision(device, SUITE, device_role)
    own = suite_parties(SUITE)[device_role]
    peer = ReferencePeer(other_role(device_role), [SUITE], tester, [own.credential])
    trace: dict[str, bytes] = {}
    config = dataclasses.replace(peer.config, trace=trace)
    peer.session = Session(Initiator(config) if config.role == "initiator" else Responder(config))
    peer.session.start(peer.now)
    session, out = start_session(device, device_role, [SUITE], cred=kid)
    run = HandshakeRun(device, session, peer, SUITE, device_role)
    to_device = peer.handshake_out()
    for _ in range(4):
        for message in out:
            to_device += peer.deliver(message)
        out = []
        for message in to_device:
            out += device.client.session_deliver(session, message)[0]
        to_device = []
    assert peer.established, "the traced handshake did not complete"
    return run, trace, own.private_key + tester.private_key


def _keys(keys: EpochKeys) -> list[bytes]:
    return [keys.device.key, keys.tester.key, keys.device.common_iv, keys.tester.common_iv]


def _windows(secrets: Iterable[bytes]) -> set[bytes]:
    return {s[i : i + _WINDOW] for s in secrets for i in range(len(s) - _WINDOW + 1)}


def _decodings(line: str) -> Iterable[bytes]:
    """Every byte string a line could be hiding: hex (both alignments) and base64 runs."""
    for run in re.findall(r"[0-9a-fA-F]{24,}", line):
        for start in (0, 1):
            text = run[start:]
            yield bytes.fromhex(text[: len(text) // 2 * 2])
    for run in re.findall(r"[A-Za-z0-9+/_-]{16,}", line):
        for alphabet in (base64.b64decode, base64.urlsafe_b64decode):
            for start in range(4):
                text = run[start:]
                try:
                    yield alphabet(text[: len(text) // 4 * 4])
                except ValueError:
                    continue
    yield line.encode("utf-8")


@pytest.mark.requirement("REQ-AUDIT-004")
def test_no_secret_of_a_full_session_appears_in_any_event(
    device: Device, audit: AuditTap, device_role: str
) -> None:
    """PRKs, the KEM shared secret, K_3, OSCORE keys and IVs, private keys, the key-update
    nonce and application plaintext, searched for raw, as hex and as base64."""
    run, trace, private_keys = _traced_handshake(device, device_role)
    completed = run.peer.session.handshake_result
    assert completed is not None
    nonce = hashlib.sha256(b"audit key update nonce").digest()[:16]
    canary = b"audit-canary-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:16].encode()
    assert run.to_device(canary) == canary
    assert run.from_device(canary[::-1]) == canary[::-1]
    _record_traffic(run)
    secrets = [trace[name] for name in trace if name.startswith(("PRK_", "K_3", "KEYSTREAM"))]
    secrets += [trace[n] for n in ("G_XY", "OSCORE_master_secret") if n in trace]
    secrets += [private_keys, canary, canary[::-1]]
    device_id, tester_id = (
        (completed.c_r, completed.c_i)
        if device_role == "initiator"
        else (completed.c_i, completed.c_r)
    )
    secrets += _keys(epoch_keys(SUITE, completed.secrets.exporter, device_id, tester_id, 0))
    if "key-update" in device.statement.features:
        _device_key_update(run, nonce)
        updated = completed.secrets.key_update(nonce)
        secrets += [nonce, updated.prk_out, updated.prk_exporter]
        secrets += _keys(epoch_keys(SUITE, updated.exporter, device_id, tester_id, 1))
    device.client.session_close(run.session)
    run.peer.close()
    windows = _windows(secrets)
    lines = audit.lines()
    assert lines, "the session produced no audit event to check"
    for line in lines:
        for decoded in _decodings(line):
            leaked = [
                decoded[i : i + _WINDOW]
                for i in range(len(decoded) - _WINDOW + 1)
                if decoded[i : i + _WINDOW] in windows
            ]
            assert not leaked, f"an audit event contains secret bytes {leaked[0].hex()}: {line}"


# -- lost events (REQ-AUDIT-009) ---------------------------------------------------------

#: Replayed records sent without reading the log; enough to overflow a small buffer.
_FLOOD = 200


@pytest.mark.requirement("REQ-AUDIT-009", "REQ-TAP-021")
def test_lost_events_are_counted_and_no_check_is_skipped(
    device: Device, audit: AuditTap, device_role: str
) -> None:
    """Overflow the AUDIT_READ buffer with replays: every replay is still refused, and the
    first event buffered afterwards carries detail.lost_events = the number lost."""
    run = run_handshake(device, SUITE, device_role)
    audit.drain()
    record = run.peer.protect(b"replay me")
    run.device.client.app_receive(run.session, record)
    for sent in range(_FLOOD):
        try:
            _, data, _ = device.client.app_receive(run.session, record)
        except StatusError as exc:
            assert exc.status == Status.PROTOCOL_ALERT, exc.result
        else:
            # The first replay meets an empty log: delivering it is REQ-REPLAY-002's failure.
            _require_replay_refused(sent > 0)
            raise AssertionError(f"a replayed record was delivered ({data!r}) with a full log")
    first = device.client.audit_read_all()
    if first.lost == 0:
        pytest.skip(
            f"{_FLOOD} replays did not overflow the buffer ({len(first.events)} events read; "
            "the device may aggregate them, REQ-AUDIT-008): overflow not reached"
        )
    _dropped(run, _forged(run, b"after the flood"), "a record with a broken tag")
    after = [parse(line) for line in device.client.audit_read_all().events]
    assert after, "no event was buffered after the overflow was read"
    assert detail(after[0]).get("lost_events") == first.lost, (
        f"AUDIT_READ reported {first.lost} lost events; the next event must carry "
        f"detail.lost_events = {first.lost}: {after[0]}"
    )
    assert run.to_device(b"still checked") == b"still checked"
    run.peer.close()


# -- TOFU (REQ-KS-005, REQ-KS-006, REQ-AUDIT-006; only with feature tofu) ------------------


def _tofu_handshake(device: Device, kid: bytes) -> list[dict[str, Any]]:
    parties = suite_parties(SUITE)
    peer = ReferencePeer(
        "initiator",
        [SUITE],
        parties["initiator"],
        [parties["responder"].credential],
        by_value=True,
    )
    session, _ = start_session(device, "responder", [SUITE], cred=kid, tofu=True)
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    _, state = device.client.session_deliver(session, peer.deliver(out[0])[0])
    assert state == "DONE", f"the TOFU handshake ended in {state}"
    device.client.session_close(session)
    peer.close()
    return AuditTap(device).records()


@pytest.mark.requirement("REQ-KS-005", "REQ-KS-006", "REQ-AUDIT-006")
def test_tofu_acceptance_and_later_use_are_audited_as_warnings(
    device: Device, audit: AuditTap
) -> None:
    if "responder" not in device.statement.roles:
        pytest.skip("not applicable: role responder not declared")
    parties = suite_parties(SUITE)
    device.client.reset("all")
    kid = device.client.cred_load(
        "own", ccs=parties["responder"].credential.cred, sk=parties["responder"].private_key
    )
    first = _tofu_handshake(device, kid)
    accepted = of_type(first, "tofu_accept")
    assert len(accepted) == 1, f"REQ-KS-005: one tofu_accept, got {[r['event'] for r in first]}"
    assert accepted[0].get("severity") == "warning"
    credential = parties["initiator"].credential
    assert detail(accepted[0]).get("fingerprint") == hashlib.sha256(credential.cred).hexdigest()
    later = of_type(_tofu_handshake(device, kid), "peer_authenticated")
    assert later, "REQ-KS-006: the second handshake with the pinned peer is not audited"
    assert (later[0].get("severity"), detail(later[0]).get("trust")) == ("warning", "tofu"), (
        f"REQ-KS-006: later use of a TOFU credential must be a warning with trust tofu: {later[0]}"
    )
