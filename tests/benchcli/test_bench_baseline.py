"""Baseline comparison and the regression exit code, with synthetic baselines.

The comparison logic runs on reports built here; the CLI tests reuse the real
host-ref report of the session fixture as "this run" (its measurement is checked in
test_bench_host_ref.py) so that the exit code depends only on the baselines.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pqiot.bench.baseline import compare
from pqiot.bench.report import metric
from pqiot.cli import bench_cmd
from pqiot.cli.main import main

Run = tuple[int, Path, dict[str, Any]]


def _report(target: str, **medians: float) -> dict[str, Any]:
    return {
        "schema": "pqiot-bench/1",
        "target": target,
        "kind": "qemu",
        "clock": {"hz": 25_000_000},
        "compiler": "gcc",
        "flags": "-O2",
        "git_revision": "abc",
        "firmware": "abc",
        "metrics": [
            metric(name.replace("_", " "), "primitive", "instruction_proxy", [v], threshold=1.0)
            for name, v in medians.items()
        ],
    }


def test_increase_past_threshold_is_a_regression() -> None:
    found, notes = compare(_report("q", a=1110, b=1050), _report("q", a=1000, b=1000), 10.0)
    by_name = {c.name: c for c in found}
    assert by_name["a"].regressed and by_name["a"].change_pct == pytest.approx(11.0)
    assert not by_name["b"].regressed
    assert notes == []


def test_improvement_is_never_a_regression() -> None:
    (c,), _ = compare(_report("q", a=50), _report("q", a=100), 0.0)
    assert c.change_pct == -50 and not c.regressed


def test_a_change_within_one_counter_tick_is_not_a_regression() -> None:
    """QEMU at 25 MHz: one SysTick count is 40 instructions; 0 -> 40 is jitter, not +inf %."""
    found, _ = compare(_report("q", a=40, b=81), _report("q", a=0, b=40), 10.0)
    by_name = {c.name: c for c in found}
    assert not by_name["a"].regressed and by_name["b"].regressed


def test_ignored_units_are_compared_but_never_fail() -> None:
    current, baseline = _report("q", a=200), _report("q", a=100)
    (c,), _ = compare(current, baseline, 10.0, frozenset({"instruction_proxy"}))
    assert c.change_pct == 100 and not c.regressed and not c.gated


def test_different_units_are_not_compared() -> None:
    current = _report("host-fw", a=100)
    current["metrics"][0]["unit"] = "wall_clock_ns"
    found, notes = compare(current, _report("qemu-m4", a=1), 10.0)
    assert found == []
    assert any("target" in n for n in notes) and any("not compared" in n for n in notes)


def test_metrics_missing_from_this_run_are_reported() -> None:
    _, notes = compare(_report("q", a=1), _report("q", a=1, gone=5), 10.0)
    assert any("gone" in n for n in notes)


def _scale(entry: dict[str, Any], factor: float) -> None:
    """A synthetic baseline figure: the whole distribution scaled, so it stays valid."""
    for key in ("min", "median", "mean", "max"):
        entry["statistics"][key] *= factor


def _rerun(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    host_ref_run: Run,
    baseline: dict[str, Any],
    *extra: str,
) -> int:
    report = host_ref_run[2]
    monkeypatch.setattr(bench_cmd, "_measure", lambda args: copy.deepcopy(report))
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline))
    return main(
        [
            "bench",
            "--target",
            "host-ref",
            "--out",
            str(tmp_path / "out"),
            "--baseline",
            str(path),
            *extra,
        ]
    )


def test_cli_exits_3_and_names_the_regressed_metric(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    host_ref_run: Run,
    capsys: pytest.CaptureFixture[str],
) -> None:
    baseline = copy.deepcopy(host_ref_run[2])
    for m in baseline["metrics"]:
        if m["name"] == "ml-dsa-44 verify":
            _scale(m, 0.5)  # this run is now +100 %
    code = _rerun(monkeypatch, tmp_path, host_ref_run, baseline, "--max-regression", "50")
    err = capsys.readouterr().err
    assert code == bench_cmd.EXIT_REGRESSION == 3
    assert "ml-dsa-44 verify" in err and "+100.0 %" in err
    written = json.loads((tmp_path / "out" / "bench-host-ref.json").read_text())
    (regressed,) = [c for c in written["baseline"]["comparisons"] if c["regressed"]]
    assert regressed["name"] == "ml-dsa-44 verify"
    assert "REGRESSED" in (tmp_path / "out" / "bench-host-ref.html").read_text()


def test_cli_exits_0_against_a_slower_baseline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, host_ref_run: Run
) -> None:
    baseline = copy.deepcopy(host_ref_run[2])
    for m in baseline["metrics"]:
        _scale(m, 2.0)
    assert _rerun(monkeypatch, tmp_path, host_ref_run, baseline, "--max-regression", "0") == 0


def test_cli_refuses_a_baseline_that_is_not_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"metrics": []}))
    code = main(["bench", "--target", "host-ref", "--baseline", str(path), "--out", str(tmp_path)])
    assert code == 1
    assert "is not a pqiot bench report" in capsys.readouterr().err


def test_unknown_target_says_which_exist(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--target", "no-such-board"]) == 1
    assert "known targets" in capsys.readouterr().err


def test_unusable_target_says_so_and_writes_no_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target whose image is missing: a clear message, exit 1, no report."""
    folder = tmp_path / "targets"
    folder.mkdir()
    source = Path(__file__).resolve().parents[2] / "targets" / "host-fw.toml"
    text = source.read_text().replace("build/firmware/host/pqiot-fw", "build/nowhere/pqiot-fw")
    (folder / "host-fw.toml").write_text(text)
    # The description names its vendor declarations relative to itself.
    shutil.copytree(source.parent / "declarations", folder / "declarations")
    monkeypatch.setenv("PQIOT_TARGETS", str(folder))
    code = main(["bench", "--target", "host-fw", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "not usable, no figures measured" in err and "make firmware" in err
    assert not (tmp_path / "out").exists()
