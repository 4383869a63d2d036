"""`pqiot targets list/check` and the `--target` entry point of the vectors portion."""

from __future__ import annotations

import json

import pytest

from pqiot.cli.main import main
from pqiot.vectors.agent import InputRejected, PrimitiveAgent, Unsupported
from pqiot.vectors.targets import NoTargets, open_target

from .conftest import require_target


def test_targets_list_json_describes_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["qemu-m4"]["clock"]["cycle_counter"] == "qemu-icount"
    assert rows["nucleo-l4r5zi"]["verified_on_hardware"] is False


def test_targets_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["NAME", "KIND", "TRANSPORT"]
    assert "not yet run" in out


@pytest.mark.parametrize("name", ["host-ref", "host-fw", "qemu-m4"])
def test_targets_check_is_healthy(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Brings the target up, prints identity, statement and footprint; exit 0 only if healthy."""
    require_target(name)
    assert main(["targets", "check", name, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] is True and report["problems"] == []
    if name == "host-ref":
        assert report["statement_problems"] == [], "the reference's statement is consistent"
    assert report["identity"]["build"] == "test"
    assert report["conformance"]["commands"]
    if name != "host-ref":
        assert report["footprint"]["flash_bytes"] > 0
    assert report["measure_unit"] == ("instruction_proxy" if name == "qemu-m4" else "wall_clock_ns")


def test_targets_check_of_an_unknown_target_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets", "check", "no-such"]) == 2
    assert "known:" in capsys.readouterr().err


def test_targets_check_of_an_absent_board_is_unavailable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No board is attached to CI: the check fails with what to do, never passes."""
    code = main(["targets", "check", "nucleo-l4r5zi"])
    assert code != 0
    assert "serial port" in capsys.readouterr().err


def test_vectors_find_targets_through_the_hil_registry() -> None:
    """The contract of pqiot.vectors.targets: a PrimitiveAgent speaking TAP to the target."""
    require_target("host-fw")
    with open_target("host-fw") as agent:
        assert isinstance(agent, PrimitiveAgent) and agent.name == "host-fw"
        ek, dk = agent.mlkem_keygen(512, bytes(32), bytes(32))
        assert len(ek) == 800 and len(dk) == 1632
        with pytest.raises(InputRejected):
            agent.mlkem_encaps(512, b"\xff" * 800, bytes(32))
        with pytest.raises(Unsupported):
            agent.hash("md5", b"")
    with pytest.raises(NoTargets, match="no-such"), open_target("no-such"):
        pass


def test_targets_check_with_the_probe_reports_the_stack_high_water_mark(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """QEMU gdbstub: the painted stack read through the probe, next to the agent's own figure."""
    require_target("qemu-m4")
    assert main(["targets", "check", "qemu-m4", "--probe", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    stack = report["probe_stack"]
    assert stack["probe_high_water_bytes"] >= stack["agent_stack_bytes"] > 0
    assert report["stack_high_water_bytes"] == stack["probe_high_water_bytes"]


def test_strict_check_also_judges_the_conformance_statement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """REQ-CONF-003: --strict fails a target whose IDENTIFY statement is inconsistent."""
    from pqiot.hil.check import check_target
    from pqiot.hil.targets import target

    require_target("host-fw")
    report = check_target(target("host-fw"))
    expected = 1 if report["statement_problems"] else 0
    assert main(["targets", "check", "host-fw", "--strict"]) == expected
    assert main(["targets", "check", "host-ref", "--strict"]) == 0
