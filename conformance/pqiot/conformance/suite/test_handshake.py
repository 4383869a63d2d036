"""Positive interop: the reference and the device complete handshakes in every declared cell.

Each (suite, device role) cell is one interop-matrix entry of the report, as in
the QUIC interop runner. Messages travel in TAP ``out``/SESSION_DELIVER
(transport ``"tap"``, spec §13.5), so the cell exercises the device's
protocol code but not yet its binding framing.
"""

from __future__ import annotations

from typing import Any

import pytest

from pqiot.conformance.conversation import run_handshake
from pqiot.conformance.device import Device

EXPORT_LABEL = 40000  # a private-use exporter label (labels 0-3 are reserved, REQ-KEYS-008)


@pytest.mark.interop(binding="tap")
@pytest.mark.requirement(
    "REQ-HS-006",
    "REQ-HS-007",
    "REQ-HS-008",
    "REQ-HS-010",
    "REQ-HS-012",
    "REQ-HS-014",
    "REQ-HS-026",
    "REQ-KEYS-003",
    "REQ-KEYS-007",
    "REQ-KEYS-011",
    "REQ-TAP-013",
    "REQ-TAP-015",
)
def test_handshake_records_and_exporter_agree(
    device: Device,
    suite: int,
    device_role: str,
    evidence: dict[str, Any],
    metrics: list[dict[str, Any]],
) -> None:
    """Handshake to DONE with the reference; records both ways; EXPORT equals the reference's."""
    run = run_handshake(device, suite, device_role)
    info = device.client.session_info(run.session)
    evidence.update(
        suite=suite,
        device_role=device_role,
        messages=[(who, len(m)) for who, m in run.transcript],
        state=info.get("state"),
    )
    metrics.append(
        {"name": "handshake_bytes", "value": run.wire_bytes, "unit": "B", "suite": suite}
    )
    metrics.append(
        {
            "name": "handshake_seconds",
            "value": round(run.seconds, 6),
            "unit": "s",
            "suite": suite,
            "role": device_role,
        }
    )
    assert info.get("state") == "DONE", f"device state {info.get('state')!r} after the handshake"
    assert info.get("suite") == suite, f"SESSION_INFO suite {info.get('suite')!r} != {suite}"
    assert run.peer.established, "the reference did not reach DONE"
    assert run.to_device(b"reference -> device") == b"reference -> device"
    assert run.from_device(b"device -> reference") == b"device -> reference"
    exported = device.client.export(run.session, EXPORT_LABEL, b"conformance", 32)
    assert exported == run.peer.exporter(EXPORT_LABEL, b"conformance", 32), (
        "EDHOC_Exporter differs between device and reference (REQ-TAP-015)"
    )


@pytest.mark.requirement("REQ-SUITE-001", "REQ-SUITE-015", "REQ-HS-001")
def test_mandatory_suite_in_every_declared_role(device: Device, device_role: str) -> None:
    """REQ-SUITE-001: -102 with method 0 works in each declared EDHOC role."""
    run = run_handshake(device, -102, device_role)
    assert device.client.session_info(run.session).get("state") == "DONE"
    if device_role == "initiator":
        message_1 = run.transcript[0][1]
        assert message_1[1:3] == b"\x38\x65", (
            "SUITES_I offering only -102 must be the single int 38 65 (REQ-HS-001, REQ-SUITE-015)"
        )


@pytest.mark.requirement("REQ-HS-016", "REQ-HS-017")
def test_message_4(device: Device, device_role: str) -> None:
    """With msg4 both sides run message_4 and still agree on the exporter."""
    if "msg4" not in device.statement.features:
        pytest.skip("not applicable: feature msg4 not declared")
    run = run_handshake(device, -102, device_role, msg4=True)
    assert len(run.transcript) == 4, f"{len(run.transcript)} handshake messages, expected 4"
    assert device.client.session_info(run.session).get("state") == "DONE"
    assert run.to_device(b"after message_4") == b"after message_4"


@pytest.mark.requirement(
    "REQ-KU-001", "REQ-KU-002", "REQ-KEYS-009", "REQ-KEYS-007", "REQ-REPLAY-005"
)
def test_key_update_started_by_the_device(device: Device, device_role: str) -> None:
    """KEY_UPDATE with a fixed nonce: both sides move to epoch 1 with equal exporters."""
    if "key-update" not in device.statement.features:
        pytest.skip("not applicable: feature key-update not declared")
    run = run_handshake(device, -102, device_role)
    before = device.client.export(run.session, EXPORT_LABEL, b"", 16)
    update = device.client.key_update(run.session, bytes(range(16)))
    assert len(update) == 1, "KEY_UPDATE sends exactly one key_update record"
    run.peer.unprotect(update[0])
    acks = run.peer.records_out()
    assert len(acks) == 1, "the reference answers with a key_update_ack"
    device.client.app_receive(run.session, acks[0])
    after = device.client.export(run.session, EXPORT_LABEL, b"", 16)
    assert after != before, "the exporter must change with the epoch (REQ-KEYS-007)"
    completed = run.peer.session.handshake_result
    assert completed is not None
    expected = completed.secrets.key_update(bytes(range(16))).exporter(EXPORT_LABEL, b"", 16)
    assert after == expected, "the device's epoch-1 exporter differs from the reference's"
    assert device.client.session_info(run.session).get("epoch") == 1
    assert run.to_device(b"epoch 1") == b"epoch 1"
    assert run.from_device(b"epoch 1 back") == b"epoch 1 back"


@pytest.mark.requirement("REQ-HS-038")
def test_retransmitted_message_1_gets_the_identical_message_2(device: Device) -> None:
    """A byte-identical message_1 in WAIT_M3 is a retransmission: same reply, no new state."""
    if "responder" not in device.statement.roles:
        pytest.skip("not applicable: role responder not declared")
    from pqiot.conformance.conversation import provision, start_session
    from pqiot.conformance.peer import ReferencePeer, suite_parties

    kid, tester = provision(device, -102, "responder")
    peer = ReferencePeer("initiator", [-102], tester, [suite_parties(-102)["responder"].credential])
    message_1 = peer.handshake_out()[0]
    session, _ = start_session(device, "responder", [-102], cred=kid)
    first, _ = device.client.session_deliver(session, message_1)
    again, state = device.client.session_deliver(session, message_1)
    assert again == first, "the retransmitted message_1 must get the identical message_2"
    assert state == "WAIT_M3", f"state {state!r} after a retransmission"
    message_3 = peer.deliver(first[0])
    _, state = device.client.session_deliver(session, message_3[0])
    assert state == "DONE", "the handshake still completes after the retransmission"
