"""Target descriptions: the built-in files are valid; broken ones say file, key and problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pqiot.hil.target_schema import TargetError, load_description, parse_description
from pqiot.hil.targets import load_targets, target, targets_dir

BUILT_IN = ("host-ref", "host-fw", "qemu-m4")
BOARDS = ("nucleo-l4r5zi", "nrf5340-dk", "lpc55s69-evk")


def _minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": 1,
        "name": "demo",
        "kind": "host",
        "transport": {"url": "tcp://127.0.0.1:{port}"},
        "launch": {"command": ["{python}", "-V"]},
        "conformance": {"commands": [0, 2]},
    }
    data.update(changes)
    return data


def test_every_shipped_description_is_valid() -> None:
    targets = load_targets()
    assert set(BUILT_IN) | set(BOARDS) <= set(targets)
    qemu = targets["qemu-m4"]
    assert qemu.clock is not None and qemu.clock.cycle_counter == "qemu-icount"
    assert qemu.probe is not None and qemu.probe.kind == "gdb"
    assert [r.kind for r in qemu.memory] == ["flash", "ram"]


@pytest.mark.parametrize("name", BOARDS)
def test_board_examples_are_marked_as_not_run_on_hardware(name: str) -> None:
    board = target(name)
    assert board.kind == "board" and board.verified_on_hardware is False
    assert board.probe is not None and board.clock is not None and board.memory


def test_unknown_target_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="host-ref"):
        target("no-such-board")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "fpga"}, "kind: must be one of host, qemu, board, not 'fpga'"),
        ({"name": "Bad Name"}, "name: 'Bad Name' must be lower-case"),
        ({"schema": 2}, "schema: version 2 is not supported"),
        ({"transport": {"url": "http://x"}}, "transport.url: 'http://x': scheme must be one of"),
        ({"transport": {}}, "transport.url: is required"),
        ({"launch": {"command": ["{bogus}"]}}, "launch.command: unknown placeholder {bogus}"),
        ({"kind": "board", "launch": None}, "verified_on_hardware: is required for kind = 'board'"),
        (
            {"clock": {"hz": "fast", "cycle_counter": "dwt"}},
            "clock.hz: must be an integer, not str 'fast'",
        ),
        ({"probe": {"kind": "gdb"}}, "probe.address: is required for a gdb probe"),
        ({"probe": {"kind": "pyocd"}}, "probe.target_type: is required for a pyocd probe"),
        ({"timeouts": {"command": -1}}, "timeouts.command: must be a positive number"),
        ({"extra": 1}, "extra: unknown key"),
        (
            {
                "conformance": {
                    "suites": [-101],
                    "methods": [0],
                    "roles": ["initiator"],
                    "bindings": ["tcp"],
                }
            },
            "suite -102 is mandatory",
        ),
        (
            {
                "conformance": {
                    "suites": [-102],
                    "methods": [0],
                    "roles": ["initiator"],
                    "bindings": ["tcp"],
                }
            },
            "feature key-update is required with binding serial, tcp or mqtt",
        ),
        (
            {
                "conformance": {
                    "suites": [-102],
                    "methods": [0],
                    "roles": ["initiator"],
                    "bindings": ["coap"],
                    "features": ["psk-resumption"],
                }
            },
            "feature psk-resumption requires method 4",
        ),
        (
            {
                "memory": [
                    {"name": "a", "kind": "ram", "start": 0, "size": 16},
                    {"name": "b", "kind": "flash", "start": 8, "size": 16},
                ]
            },
            "regions 'a' and 'b' overlap",
        ),
    ],
)
def test_invalid_descriptions_name_the_key_and_the_problem(
    changes: dict[str, Any], message: str
) -> None:
    data = {k: v for k, v in _minimal(**changes).items() if v is not None}
    with pytest.raises(TargetError) as caught:
        parse_description(data, "targets/demo.toml")
    assert "targets/demo.toml: " in str(caught.value)
    assert message in str(caught.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(TargetError) as caught:
        parse_description(_minimal(kind="fpga", schema=9, extra=True), "targets/demo.toml")
    assert str(caught.value).count("targets/demo.toml:") == 3


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "demo.toml"
    broken.write_text("name = [", encoding="utf-8")
    with pytest.raises(TargetError, match=r"demo.toml: not valid TOML"):
        load_description(broken)
    renamed = tmp_path / "other.toml"
    renamed.write_text('schema = 1\nname = "demo"\nkind = "host"\n', encoding="utf-8")
    with pytest.raises(TargetError, match=r"name: 'demo' must match the file name \(other.toml\)"):
        load_description(renamed)


def test_targets_directory_can_be_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PQIOT_TARGETS", str(tmp_path))
    assert targets_dir() == tmp_path
    assert load_targets() == {}


def test_declarations_file_is_resolved_next_to_the_target_file(tmp_path: Path) -> None:
    """`declarations` (spec §14.5.1) is relative to the target file and must exist."""
    (tmp_path / "declarations").mkdir()
    (tmp_path / "declarations" / "demo.toml").write_text("declaration = []\n")
    data = _minimal(declarations="declarations/demo.toml")
    description = parse_description(data, str(tmp_path / "demo.toml"))
    assert description.declarations == tmp_path / "declarations" / "demo.toml"
    assert description.to_json()["declarations"] == str(tmp_path / "declarations" / "demo.toml")
    with pytest.raises(TargetError, match=r"declarations: .*absent.toml does not exist"):
        parse_description(_minimal(declarations="absent.toml"), str(tmp_path / "demo.toml"))
    with pytest.raises(TargetError, match="declarations: must be a string"):
        parse_description(_minimal(declarations=3), "<memory>")


def test_our_targets_name_their_declarations() -> None:
    assert target("host-ref").declarations is not None
    assert target("host-ref").declarations.name == "reference.toml"  # type: ignore[union-attr]
    assert target("qemu-m4").declarations == target("host-fw").declarations
