"""The Test Agent Protocol itself (spec chapter 13): robustness, identity, state rules."""

from __future__ import annotations

from typing import Any

import pytest

from pqiot.conformance.device import Device
from pqiot.hil.conformance import ConformanceStatement, statement_problems
from pqiot.reference import cbor
from pqiot.reference.tap.codes import Command, Status

_IDENTITY_KEYS = {
    "tap": int, "protocol": int, "spec": str, "vendor": str, "product": str, "firmware": str,
    "build": str, "suites": list, "methods": list, "roles": list, "bindings": list,
    "features": list, "commands": list, "primitives": list, "max_hs_message": int,
    "max_record_plaintext": int, "max_tap_request": int, "max_tap_response": int,
    "serial_mtu": int, "replay_window": int, "persist_k": int, "measure": dict,
}  # fmt: skip


@pytest.mark.requirement("REQ-TAP-008", "REQ-CONF-001", "REQ-CONF-002", "REQ-CONF-003")
def test_identify_is_a_complete_consistent_statement(
    device: Device, evidence: dict[str, Any]
) -> None:
    identity = device.client.identify()
    evidence["identity"] = identity
    wrong = {k: t.__name__ for k, t in _IDENTITY_KEYS.items() if not isinstance(identity.get(k), t)}
    assert not wrong, f"IDENTIFY fields missing or of the wrong type (§13.4): {wrong}"
    assert identity["build"] == "test" and identity["tap"] == 1 and identity["protocol"] == 1
    assert isinstance(identity["spec"], str) and identity["spec"].startswith("1."), identity["spec"]
    problems = statement_problems(ConformanceStatement.from_identity(identity))
    assert not problems, f"inconsistent conformance statement: {problems}"


@pytest.mark.requirement("REQ-TAP-003", "REQ-TAP-005")
@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff", cbor.encode([2, 1]), cbor.encode({"a": 1}), cbor.encode([2, 1, 5]),
     cbor.encode(["x", 1, {}]), b"\x83\x02"],
    ids=["empty", "break", "two-items", "map", "args-not-map", "command-text", "truncated"],
)  # fmt: skip
def test_malformed_request_is_status_2(device: Device, payload: bytes) -> None:
    response = device.raw(payload)
    assert response.status == Status.MALFORMED, f"status {response.status}, expected 2"
    assert device.alive(), "REQ-TAP-005: ECHO must work after an error response"


@pytest.mark.requirement("REQ-TAP-004", "REQ-TAP-005")
def test_unknown_command_missing_argument_and_unsupported_option(device: Device) -> None:
    assert device.raw(cbor.encode([250, 7, {}])).status == Status.UNKNOWN_COMMAND
    assert device.alive()
    assert device.raw(cbor.encode([int(Command.ECHO), 8, {}])).status == Status.MALFORMED
    assert device.alive()
    unsupported = device.raw(
        cbor.encode([int(Command.MLKEM_KEYGEN), 9, {"set": 333, "d": bytes(32), "z": bytes(32)}])
    )
    assert unsupported.status in (Status.UNSUPPORTED, Status.INVALID_INPUT), unsupported.status
    assert device.alive()


@pytest.mark.requirement("REQ-TAP-006", "REQ-TAP-005")
def test_request_above_max_tap_request_is_status_4(device: Device) -> None:
    limit = device.limit("max_tap_request", 8192)
    assert limit >= 8192, f"max_tap_request {limit} is below 8192"
    payload = cbor.encode([int(Command.ECHO), 11, {"data": bytes(limit)}])
    response = device.raw(payload)
    assert response.status == Status.TOO_LARGE, f"status {response.status}, expected 4"
    assert response.request_id is None, "an unparsed oversized request is answered with id null"
    assert device.alive()


@pytest.mark.requirement("REQ-TAP-015", "REQ-TAP-016", "REQ-KEYS-007")
def test_export_needs_done_and_reset_forgets_sessions(device: Device) -> None:
    from pqiot.conformance.conversation import expect_status, provision, start_session

    role = "initiator" if "initiator" in device.statement.roles else "responder"
    kid, _ = provision(device, -102, role)
    session, _ = start_session(device, role, [-102], cred=kid)
    expect_status(
        lambda: device.client.export(session, 40000, b"", 16), {Status.INVALID_STATE}, "EXPORT"
    )
    device.client.reset("sessions")
    expect_status(
        lambda: device.client.session_info(session), {Status.INVALID_STATE}, "SESSION_INFO"
    )
    assert device.alive(), "REQ-TAP-016: RESET must not reboot or break the agent"


@pytest.mark.requirement("REQ-TAP-017", "REQ-TAP-018")
def test_measure_reports_the_last_command(device: Device, metrics: list[dict[str, Any]]) -> None:
    measure = device.identity.get("measure")
    assert isinstance(measure, dict)
    if measure.get("cycles") == "none":
        pytest.skip("not applicable: measure.cycles is none")
    device.client.hash("sha256", b"measure me")
    result = device.client.measure()
    assert result.cmd == Command.HASH, f"MEASURE reports command {result.cmd}, expected HASH"
    assert result.cycle_source == measure.get("cycles"), (
        f"cycle_source {result.cycle_source!r} differs from IDENTIFY {measure.get('cycles')!r}"
    )
    metrics.append(
        {"name": "hash_sha256_cost", "value": result.cycles, "unit": result.cycle_source}
    )
