"""Live-device fuzzing (`pqiot fuzz target`): smoke runs on the firmware, and proof that the
fuzzer detects, reproduces, minimises and saves what goes wrong on a device.

The firmware runs are short (tens of inputs); long campaigns are documented in
fuzz/README.md. Targets whose image is missing are skipped with the build command.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pytest

from pqiot.cli import fuzz_cmd
from pqiot.cli.errors import CliError
from pqiot.fuzz.live import campaign
from pqiot.fuzz.live.device import FuzzDevice, sanitizer_report
from pqiot.fuzz.live.inputs import Context, Finding, LiveInput, load_finding, save_finding
from pqiot.hil.runner import TargetRunner
from pqiot.hil.target_schema import TargetDescription, load_description
from pqiot.hil.targets import target

PROXY = Path(__file__).parent / "live_data" / "planted_crash_proxy.py"


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pqiot")
    fuzz_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except CliError as exc:
        print(f"pqiot: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return result


def available(name: str) -> TargetDescription:
    description = target(name)
    image = TargetRunner(description).image_path()
    if image is not None and not image.exists():
        pytest.skip(f"{image} is missing; run `{description.firmware.build}`")
    launcher = description.launch.command[0] if description.launch else ""
    if launcher and not launcher.startswith("{") and shutil.which(launcher) is None:
        pytest.skip(f"{launcher} is not installed; run `make setup`")
    return description


# -- smoke runs on the reference firmware ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "frames", "sanity"), [("host-fw-asan", 200, 50), ("qemu-m4", 20, 10)]
)
def test_fuzzing_the_firmware_finds_nothing(
    name: str, frames: int, sanity: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every kind of input reaches the device, the sanity handshakes pass, nothing fails."""
    available(name)
    argv = ["fuzz", "target", "--target", name, "--frames", str(frames)]
    code = cli([*argv, "--sanity-every", str(sanity), "--seed", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{name}: {frames} inputs in" in out and "inputs/s" in out
    assert f"{frames // sanity} sanity handshakes, 0 findings" in out
    for kind in ("tap", "wire", "message_1", "message_3", "record"):
        assert f"{kind} " in out, f"no {kind} input was sent: {out}"
    assert not (tmp_path / f"target-{name}").exists()


# -- detection --------------------------------------------------------------------------------


def test_a_device_killed_mid_run_is_a_crash_saved_with_a_reproduce_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The process dies under the fuzzer: crash, replayed on a fresh instance (where the
    innocent input passes), saved with its context and the command that replays it."""
    description = available("host-fw")

    def kill_at_five(count: int, device: FuzzDevice) -> None:
        if count == 5:
            device.runner.kill()

    options = campaign.Options(frames=50, seed=3, sanity_every=0, out=tmp_path)
    result = campaign.run_campaign(description, options, lambda _: None, kill_at_five)
    assert result.sent == 5
    [(finding, path)] = result.findings
    assert finding.kind == "crash" and "killed by signal 9" in finding.detail
    assert finding.reproduced is False and "did not reproduce" in finding.notes[0]
    assert path.parent == tmp_path / "target-host-fw" and path.name.startswith("crash-")
    saved = load_finding(path)
    assert saved.inputs == finding.inputs and saved.context == finding.context
    assert campaign.reproduce_command("host-fw", path) == (
        f"pqiot fuzz target --target host-fw --reproduce {path}"
    )
    assert cli(["fuzz", "target", "--target", "host-fw", "--reproduce", str(path)]) == 0
    assert "no longer fails" in capsys.readouterr().out


def planted(folder: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A target whose agent misbehaves (``mode``) on any TAP message not starting with 0x83."""
    available("host-fw")
    folder.mkdir(exist_ok=True)
    name = f"planted-{mode}"
    (folder / f"{name}.toml").write_text(
        f'schema = 1\nname = "{name}"\nkind = "host"\n'
        '[firmware]\nimage = "build/firmware/host/pqiot-fw"\n'
        '[transport]\nurl = "tcp://127.0.0.1:{port}"\n'
        f'[launch]\ncommand = ["{{python}}", "{PROXY}", "--listen", "{{port}}", '
        f'"--firmware", "{{image}}", "--mode", "{mode}"]\nready = "TAP listening on"\n'
        "[conformance]\ncommands = [0, 1, 2]\n[timeouts]\nboot = 10\ncommand = 1\nreset = 1\n"
    )
    load_description(folder / f"{name}.toml")
    monkeypatch.setenv("PQIOT_TARGETS", str(folder))
    return name


@pytest.fixture
def planted_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return planted(tmp_path / "targets", "crash", monkeypatch)


def test_a_planted_crash_is_found_reproduced_minimised_and_replayable(
    planted_target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    argv = ["fuzz", "target", "--target", planted_target, "--frames", "300", "--seed", "5"]
    assert cli([*argv, "--sanity-every", "0", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "found crash (reproduced on a fresh instance)" in printed, printed
    [path] = (out / f"target-{planted_target}").glob("crash-*.json")
    assert f"reproduce: pqiot fuzz target --target {planted_target} --reproduce {path}" in printed
    finding = load_finding(path)
    [item] = finding.inputs
    assert finding.reproduced is True and "killed by signal 6" in finding.detail
    assert "planted crash: TAP message starts with" in finding.evidence
    assert len(item.data) == 1 and item.data != b"\x83", "ddmin keeps one failing byte"
    assert finding.original_size is not None and finding.original_size > 1
    assert cli(["fuzz", "target", "--target", planted_target, "--reproduce", str(path)]) == 1
    assert "reproduces: crash" in capsys.readouterr().out


@pytest.mark.parametrize(("mode", "budget"), [("hang", 0), ("reset", 48)])
def test_a_silent_device_is_a_hang_and_one_that_drops_the_link_and_returns_is_a_reset(
    mode: str, budget: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQ-TAP-003/005: a device must answer every TAP message. No answer and no recovery
    is a hang; a dropped link after which it answers again is a reset (an MCU reboot)."""
    description = target(planted(tmp_path / "targets", mode, monkeypatch))
    options = campaign.Options(
        frames=300, seed=5, sanity_every=0, out=tmp_path, minimise_tests=budget, kinds=("tap",)
    )
    result = campaign.run_campaign(description, options, lambda _: None)
    [(finding, path)] = result.findings
    assert finding.kind == mode and finding.reproduced is True, finding.detail
    assert finding.inputs[0].kind == "tap" and finding.inputs[0].data[:1] != b"\x83"
    assert path.name.startswith(f"{mode}-") and load_finding(path).kind == mode
    if mode == "reset":
        assert len(finding.inputs[0].data) == 1


def test_a_missing_image_is_built_with_the_description_recipe_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command runs ``[firmware] build`` for a missing image and says when that fails."""
    (tmp_path / "Makefile").write_text("image:\n\t@echo building the image; exit 3\n")
    (tmp_path / "unbuilt.toml").write_text(
        'schema = 1\nname = "unbuilt"\nkind = "host"\n'
        f'[firmware]\nimage = "{tmp_path}/no-such-image"\n'
        f'build = "make -f {tmp_path}/Makefile image"\n'
        '[transport]\nurl = "tcp://127.0.0.1:{port}"\n'
        '[launch]\ncommand = ["{image}"]\n[conformance]\ncommands = [0]\n'
    )
    monkeypatch.setenv("PQIOT_TARGETS", str(tmp_path))
    argv = ["fuzz", "target", "--target", "unbuilt", "--frames", "1"]
    assert cli([*argv, "--no-build"]) == 1
    assert f"build it with `make -f {tmp_path}/Makefile image`" in capsys.readouterr().err
    assert cli(argv) == 1
    captured = capsys.readouterr()
    assert "is missing; building it with" in captured.out
    assert "failed (exit 2)" in captured.err


# -- units ------------------------------------------------------------------------------------


def test_sanitizer_reports_are_picked_out_of_the_target_output() -> None:
    log = (
        "TAP listening on 127.0.0.1:4000\n"
        "==4242==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x6020\n"
        "    #0 0x55 in cbor_read src/cbor.c:88\n"
        "src/edhoc.c:310:17: runtime error: index 70 out of bounds for type 'uint8_t [64]'\n"
        "SUMMARY: AddressSanitizer: heap-buffer-overflow src/cbor.c:88 in cbor_read\n"
    )
    assert sanitizer_report(log).splitlines() == [
        "==4242==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x6020",
        "src/edhoc.c:310:17: runtime error: index 70 out of bounds for type 'uint8_t [64]'",
        "SUMMARY: AddressSanitizer: heap-buffer-overflow src/cbor.c:88 in cbor_read",
    ]
    assert sanitizer_report("TAP listening on 127.0.0.1:4000\n") == ""


def test_a_reproducer_file_round_trips(tmp_path: Path) -> None:
    context = Context(-102, b"\x01", b"\x02", b"\x03", bytes(32), b"\x07" * 32, b"\x2a")
    finding = Finding(
        "hang", "no answer", [LiveInput("record", b"\x09\x00"), LiveInput("tap", b"\x80")]
    )
    finding.context, finding.target, finding.reproduced = context, "qemu-m4", True
    path = save_finding(finding, tmp_path)
    assert path.name == f"hang-{finding.digest}.json"
    document = json.loads(path.read_text())
    assert document["inputs"] == [
        {"kind": "record", "data": "0900"},
        {"kind": "tap", "data": "80"},
    ]
    again = load_finding(path)
    assert (again.kind, again.inputs, again.context, again.reproduced) == (
        "hang",
        finding.inputs,
        context,
        True,
    )
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a pqiot live-fuzz reproducer"):
        load_finding(path)


def test_an_unknown_target_is_an_error_listing_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(["fuzz", "target", "--target", "no-such-board", "--frames", "1"]) == 2
    assert "known targets:" in capsys.readouterr().err
