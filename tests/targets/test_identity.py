"""IDENTIFY and MEASURE of the reference firmware (spec §13.4, §13.6; REQ-TAP-008, -017..019)."""

from __future__ import annotations

from pqiot.hil.agent_client import Command, Status

from .conftest import Agent

EXPECTED_COMMANDS = {
    0,
    1,
    2,
    16,
    17,
    18,
    32,
    33,
    34,
    48,
    49,
    56,
    58,
    64,
    80,
    81,
    82,
    83,
    84,
    85,
    86,
    87,
    88,
    89,
    91,
    96,
    97,
}


def test_identify_returns_the_conformance_statement(agent: Agent) -> None:
    """REQ-TAP-008: the statement of §13.4 with every listed command implemented."""
    ident = agent.identity
    assert ident["tap"] == 1 and ident["protocol"] == 1 and ident["build"] == "test"
    assert set(ident["commands"]) == EXPECTED_COMMANDS
    assert {"ml-kem-512", "ml-kem-768", "ml-kem-1024", "ml-dsa-44", "ml-dsa-65"} <= set(
        ident["primitives"]
    )
    assert ident["max_tap_request"] >= 8192
    assert ident["serial_mtu"] == 256
    assert ident["bindings"] == ["serial"]  # these targets run the serial framing (channel 0)
    measure = ident["measure"]
    assert isinstance(measure, dict)
    if agent.is_qemu:
        assert measure == {"stack": "paint", "cycles": "qemu-icount", "clock_hz": 25_000_000}
    else:
        assert measure == {"stack": "none", "cycles": "host-ns", "clock_hz": 1_000_000_000}
    # Only what is implemented and tested in tests/targets/test_handshake.py (REQ-TAP-008).
    assert ident["suites"] == [-102, -101, -105]
    assert ident["roles"] == ["initiator", "responder", "subscriber"] and ident["methods"] == [0]
    assert ident["max_hs_message"] >= 3600  # message_2 of -102 with a kid (REQ-HS-026)
    assert ident["features"] == ["key-update", "persistent-contexts", "no-clock"]
    assert (ident["replay_window"], ident["persist_k"]) == (64, 32)  # REQ-REPLAY-001, §7.7
    assert ident["max_record_plaintext"] == 4096


def test_every_declared_command_is_implemented(agent: Agent) -> None:
    for command in agent.identity["commands"]:
        response = agent.client.call(command, {})
        assert response.status != Status.UNKNOWN_COMMAND, command


def test_measure_reports_the_last_measured_command(agent: Agent) -> None:
    """REQ-TAP-017..019: cycles and (on the M4) painted peak stack of the last operation."""
    assert agent.client.call(Command.RESET, {"scope": "all"}).status == Status.OK
    keygen = agent.client.call(Command.MLKEM_KEYGEN, {"set": 768, "d": bytes(32), "z": bytes(32)})
    assert keygen.status == Status.OK
    agent.assert_alive()  # ECHO is not measured and must not replace the measurement
    result = agent.client.call(Command.MEASURE).ok()
    assert result["cmd"] == Command.MLKEM_KEYGEN
    assert isinstance(result["cycles"], int) and result["cycles"] > 0
    assert result["cycle_source"] == agent.identity["measure"]["cycles"]
    assert result["cycles_overflow"] is False
    if agent.is_qemu:
        # PQClean's clean ML-KEM-768 keygen: ~10 KB on a real M4 (pqm4), same code here.
        assert isinstance(result["stack_bytes"], int) and 4_000 < result["stack_bytes"] < 20_000
    else:
        assert result["stack_bytes"] is None


def test_measure_without_a_measured_command_is_invalid_state(agent: Agent) -> None:
    """REQ-TAP-016/017: RESET all drops the last measurement; MEASURE then answers status 5."""
    assert agent.client.call(Command.RESET, {"scope": "all"}).status == Status.OK
    assert agent.client.call(Command.MEASURE).status == Status.INVALID_STATE
    agent.assert_alive()
