"""AUDIT_READ (97) on the firmware: the chapter 9 events of its sessions as exact JSON lines
(spec §9.1/§9.2, §10.2 "audit", §13.9, REQ-TAP-021), and three fixes found beside it:
an EDHOC error on channel 0 aborts an established link session (REQ-HS-022), an Initiator's
too-long ``c_id`` is invalid input (REQ-HS-003), and a state-timer expiry is reported by the
next command on the session (§13.5 "Timers").

The firmware declares ``no-clock``: ``ts`` counts from 1970-01-01T00:00:00.000Z at boot (§13.9
"Time"), so the expected lines below hold ``TS`` where the timestamp goes (checked for the
§9.1 form separately) and ``D`` for ``duration_ms``; every other byte is compared.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime

import cbor2
import pytest

from pqiot.hil.agent_client import Command, Status, TapClient, spawn_host
from pqiot.reference import cbor
from pqiot.reference.audit import AuditEvent, AuditLog, MemorySink
from pqiot.reference.cbor import CborValue
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.session import KIND_HANDSHAKE, Session

from .conftest import Agent, build_image
from .peer import (
    Link,
    as_int,
    byte_list,
    device_identity,
    handshake,
    host_identity,
    load_credentials,
    reference_config,
)
from .test_record_limits import keys_of
from .test_serial_link import link_handshake

_TS = re.compile(r'"ts":"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)"')
_DURATION = re.compile(r'"duration_ms":(\d+)')


def read(client: TapClient) -> dict[str, object]:
    """One AUDIT_READ, which must succeed."""
    return dict(client.call(Command.AUDIT_READ, {}).ok())


def lines(client: TapClient) -> list[str]:
    """Every buffered event (one read suffices for at most 16)."""
    result = read(client)
    assert result["more"] is False, result
    events = result["events"]
    assert isinstance(events, list)
    return [str(line) for line in events]


def normalised(line: str) -> str:
    """The line with its timestamp as TS and duration_ms as D, after checking both."""
    match = _TS.search(line)
    assert match is not None, f"REQ-AUDIT-003: no ts of the form YYYY-MM-DDTHH:MM:SS.mmmZ: {line}"
    datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")  # a real date
    # REQ-AUDIT-001/007: the compact JSON Python writes, keys in the schema order
    assert json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False) == line
    return _DURATION.sub('"duration_ms":D', _TS.sub('"ts":"TS"', line, count=1))


def handshake_lines(role: str, link: Link) -> list[str]:
    """peer_authenticated and handshake_completed as §9.2 and the reference write them."""
    result = link.peer.handshake_result
    assert result is not None
    peer, c_i, c_r = host_kid(), result.c_i.hex(), result.c_r.hex()
    return [
        f'{{"ts":"TS","event":"peer_authenticated","severity":"info","peer":"{peer}",'
        f'"suite":-102,"detail":{{"role":"{role}","method":0,"trust":"allow-list",'
        '"sub":"host"}}',
        f'{{"ts":"TS","event":"handshake_completed","severity":"info","peer":"{peer}",'
        f'"suite":-102,"detail":{{"role":"{role}","method":0,"c_i":"{c_i}","c_r":"{c_r}",'
        '"duration_ms":D}}',
    ]


def host_kid() -> str:
    kid = host_identity().kid
    assert isinstance(kid, bytes)
    return kid.hex()


def record_line(event: str, severity: str, detail: str, extra: str = "") -> str:
    peer = host_kid()
    return (
        f'{{"ts":"TS","event":"{event}","severity":"{severity}","peer":"{peer}","suite":-102,'
        f'"detail":{{{detail}{extra}}}}}'
    )


@pytest.fixture
def host(agent: Agent) -> Agent:
    if agent.is_qemu:
        pytest.skip("target-independent C: one qemu-m4 case covers the M4 build")
    return agent


# -- the exact lines ----------------------------------------------------------------------------


def test_identify_lists_audit_read(agent: Agent) -> None:
    """§13.9: a DUT implementing AUDIT_READ lists 97 in IDENTIFY commands."""
    commands = agent.identity["commands"]
    assert isinstance(commands, list) and Command.AUDIT_READ in commands


def test_full_handshake_and_a_replayed_record_are_the_exact_lines(agent: Agent) -> None:
    """REQ-AUDIT-001/002/005, REQ-TAP-021: a handshake (responder) gives peer_authenticated and
    handshake_completed, a replayed record replay_dropped with its PIV; read once, then gone."""
    load_credentials(agent.client, device_identity(), host_identity())  # RESET all: empty
    link = handshake(agent.client, "responder")
    record = link.peer_send(b"once")
    link.firmware_receive(record).ok()
    replayed = link.firmware_receive(record)
    assert (
        replayed.status == Status.PROTOCOL_ALERT and replayed.result["alert"] == "replay_detected"
    )
    got = [normalised(line) for line in lines(agent.client)]
    assert got == [
        *handshake_lines("responder", link),
        record_line("replay_dropped", "warning", '"context":"record","piv":0,"reason":"window"'),
    ]
    assert read(agent.client) == {"events": [], "lost": 0, "more": False}, "removed when read"


def test_lines_are_what_the_reference_audit_log_writes(host: Agent) -> None:
    """REQ-TAP-021: each event is the exact line the audit sink gets; the reference's
    AuditLog, given the same fields and time, writes the same bytes (initiator role)."""
    load_credentials(host.client, device_identity(), host_identity())
    link = handshake(host.client, "initiator")
    result = link.peer.handshake_result
    assert result is not None
    got = lines(host.client)
    assert [normalised(line) for line in got] == handshake_lines("initiator", link)
    assert result.c_i == b"\x37", "the firmware's default C_I"
    sink = MemorySink()
    log = AuditLog(sink, clock=None)
    for line in got:
        parsed = json.loads(line)
        when = datetime.strptime(parsed["ts"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        log.emit(
            AuditEvent(parsed["event"]),
            now=when,
            peer=host_identity().kid,
            suite=-102,
            detail=parsed["detail"],
        )
    assert sink.lines == got


def test_forged_record_is_decrypt_failed_with_count_v(host: Agent) -> None:
    """§10.2: a record whose tag fails is dropped and audited decrypt_failed (context record,
    count_v, reason); a record for no context says so (REQ-AUDIT-005)."""
    load_credentials(host.client, device_identity(), host_identity())
    link = handshake(host.client, "initiator")
    lines(host.client)
    forged = bytearray(link.peer_send(b"forged"))
    forged[-1] ^= 1
    for _ in range(2):
        assert link.firmware_receive(bytes(forged)).status == Status.PROTOCOL_ALERT
    keys = keys_of(link, "initiator", -102)
    stranger = bytearray(keys.tester.seal(7, bytes([1]) + b"x"))
    stranger[3] ^= 0x55  # another kid: no recipient context
    assert link.firmware_receive(bytes(stranger)).status == Status.PROTOCOL_ALERT
    failed = '"context":"record","count_v":%d,"reason":"authentication failed"'
    assert [normalised(line) for line in lines(host.client)] == [
        record_line("decrypt_failed", "warning", failed % 1),
        record_line("decrypt_failed", "warning", failed % 2),
        record_line(
            "decrypt_failed", "warning", '"context":"record","count_v":0,"reason":"no context"'
        ),
    ]


def test_key_update_is_rekey_with_epoch_and_initiator(host: Agent) -> None:
    """REQ-KU-009: a completed key update is audited rekey with the new epoch; who started it
    is `initiated_by` (the device here, then the peer)."""
    load_credentials(host.client, device_identity(), host_identity())
    link = handshake(host.client, "responder")
    lines(host.client)
    out = host.client.call(Command.KEY_UPDATE, {"session": link.session, "nonce": bytes(16)}).ok()
    link.to_peer(byte_list(out["out"]))
    link.peer_events()
    (ack,) = link.peer_payloads(1)
    assert link.firmware_receive(ack).ok()["content_type"] == 3
    link.peer.update_keys(link.now)
    (record,) = link.peer_payloads(1)
    assert link.firmware_receive(record).ok()["content_type"] == 2
    expected = [
        record_line("rekey", "info", '"epoch":1,"initiated_by":"local"'),
        record_line("rekey", "info", '"epoch":2,"initiated_by":"peer"'),
    ]
    assert [normalised(line) for line in lines(host.client)] == expected


def test_received_and_raised_alerts_are_handshake_failed(host: Agent) -> None:
    """§10.2 / REQ-ERR-006: an EDHOC error received in WAIT_M3 (origin peer, err_code) and a
    malformed message_1 (our decode_error, origin local); no peer and no suite before DONE."""
    load_credentials(host.client, device_identity(), host_identity())
    peer = Session(Initiator(reference_config("initiator", host_identity(), device_identity())))
    peer.start(0.0)
    (message_1,) = [p[1:] for p in peer.data_to_send() if p[0] == KIND_HANDSHAKE]
    start: dict[str, CborValue] = {
        "method": 0,
        "suites": [-102],
        "cred": device_identity().kid,
        "kem_m": bytes(32),
    }
    session = as_int(host.client.session_start("responder", **start).ok()["session"])
    host.client.session_deliver(session, message_1).ok()
    error = cbor.encode_sequence(1, "unspecified_error: audit test")
    assert host.client.session_deliver(session, error).status == Status.PROTOCOL_ALERT
    other = as_int(host.client.session_start("responder", **start).ok()["session"])
    assert host.client.session_deliver(other, b"\x00\xff").status == Status.PROTOCOL_ALERT
    head = '{"ts":"TS","event":"handshake_failed","severity":"error","peer":null,"suite":null,'
    assert [normalised(line) for line in lines(host.client)] == [
        head + '"detail":{"alert":"unspecified_error","origin":"peer","state":"WAIT_M3",'
        '"err_code":1}}',
        head + '"detail":{"alert":"decode_error","origin":"local","state":"START"}}',
    ]


def test_full_buffer_keeps_the_oldest_and_counts_the_lost(host: Agent) -> None:
    """REQ-TAP-021 / REQ-AUDIT-009: 16 events are kept, later ones counted in `lost`; the next
    event stored carries detail.lost_events; every replay is still refused."""
    load_credentials(host.client, device_identity(), host_identity())
    link = handshake(host.client, "responder")
    lines(host.client)
    record = link.peer_send(b"replay me")
    link.firmware_receive(record).ok()
    for _ in range(20):
        assert link.firmware_receive(record).status == Status.PROTOCOL_ALERT
    full = read(host.client)
    assert (len(full["events"]), full["lost"], full["more"]) == (16, 4, False)  # type: ignore[arg-type]
    forged = bytearray(link.peer_send(b"after"))
    forged[-1] ^= 1
    assert link.firmware_receive(bytes(forged)).status == Status.PROTOCOL_ALERT
    after = read(host.client)
    assert after["lost"] == 0
    events = after["events"]
    assert isinstance(events, list)
    assert [normalised(str(line)) for line in events] == [
        record_line(
            "decrypt_failed",
            "warning",
            '"context":"record","count_v":1,"reason":"authentication failed"',
            ',"lost_events":4',
        )
    ]


def test_reset_sessions_keeps_the_buffer_and_reset_all_empties_it(host: Agent) -> None:
    """§13.9 RESET: "sessions" keeps the events and the lost count, "all" empties both."""
    load_credentials(host.client, device_identity(), host_identity())
    handshake(host.client, "responder")  # RESET sessions inside
    assert host.client.call(Command.RESET, {"scope": "sessions"}).status == Status.OK
    assert len(lines(host.client)) == 2
    handshake(host.client, "responder")
    assert host.client.call(Command.RESET, {"scope": "all"}).status == Status.OK
    assert read(host.client) == {"events": [], "lost": 0, "more": False}


# -- the three fixes ----------------------------------------------------------------------------


def test_initiator_c_id_longer_than_the_suite_allows_is_invalid_input(host: Agent) -> None:
    """REQ-HS-003: 7 bytes fit AES-CCM (-101) but not A256GCM (-102): status 6, not 9."""
    load_credentials(host.client, device_identity(), host_identity())
    response = host.client.session_start(
        "initiator",
        method=0,
        suites=[-102],
        cred=device_identity().kid,
        kem_seed=bytes(64),
        c_id=bytes(range(7)),
    )
    assert response.status == Status.INVALID_INPUT, response
    host.assert_alive()


@pytest.fixture
def short_timer() -> Iterator[TapClient]:
    """A host image with a 1 s state timer (REQ-HS-037: configurable from 1 s)."""
    client = spawn_host(
        build_image("host"), timeout=30, wrapper=["env", "PQIOT_FW_STATE_TIMER_MS=1000"]
    )
    try:
        load_credentials(client, device_identity(), host_identity())
        yield client
    finally:
        client.close()


def test_state_timer_expiry_is_reported_by_the_next_command(short_timer: TapClient) -> None:
    """§13.5 "Timers": the next SESSION_DELIVER answers status 7 with the expiry's alert
    (unspecified_error, the §10.2 alert of a timeout), empty out, state FAILED; the expiry is
    audited handshake_failed with reason timeout (§5.11)."""
    started = short_timer.session_start(
        "initiator", method=0, suites=[-102], cred=device_identity().kid, kem_seed=bytes(64)
    ).ok()
    session = as_int(started["session"])
    time.sleep(1.3)
    late = short_timer.session_deliver(session, b"\x00" * 40)
    assert late.status == Status.PROTOCOL_ALERT, late
    assert (late.result["alert"], late.result["out"], late.result["state"]) == (
        "unspecified_error",
        [],
        "FAILED",
    )
    again = short_timer.session_deliver(session, b"\x00" * 40)
    assert again.ok()["out"] == [] and again.ok()["state"] == "FAILED"
    assert [normalised(line) for line in lines(short_timer)] == [
        '{"ts":"TS","event":"handshake_failed","severity":"error","peer":null,"suite":null,'
        '"detail":{"alert":"unspecified_error","origin":"local","state":"WAIT_M2",'
        '"reason":"timeout"}}'
    ]


@pytest.fixture
def serial_host() -> Iterator[TapClient]:
    client = spawn_host(build_image("host"), timeout=30)
    try:
        yield client
    finally:
        client.close()


def test_error_on_channel_0_aborts_the_established_link_session(serial_host: TapClient) -> None:
    """REQ-HS-022: an EDHOC error message for an established session on the serial link ends
    it as over TAP: keys discarded (records refused), state FAILED, handshake_failed audited."""
    link = link_handshake(serial_host, "responder")
    lines(serial_host)
    error = cbor2.dumps(1) + cbor2.dumps("unspecified_error: link test")
    serial_host.link_send(bytes([KIND_HANDSHAKE]) + error)
    assert link.info()["state"] == "FAILED"
    sent = serial_host.call(Command.APP_SEND, {"session": link.session, "data": b"x"})
    assert sent.status == Status.INVALID_STATE, sent
    assert [normalised(line) for line in lines(serial_host)] == [
        f'{{"ts":"TS","event":"handshake_failed","severity":"error","peer":"{host_kid()}",'
        '"suite":null,"detail":{"alert":"unspecified_error","origin":"peer","state":"DONE",'
        '"err_code":1}}'
    ]
