"""Board farm: parallel targets, retries, quarantine with reasons, verdict for every target."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pqiot.hil.farm import ACCUMULATED_768_100, Quarantine, run_farm
from pqiot.hil.targets import targets_dir
from pqiot.hil.verdict import Verdict

from .conftest import require_target

BROKEN = """
schema = 1
name = "broken"
kind = "host"
description = "a target whose agent dies at start"
[transport]
url = "tcp://127.0.0.1:{port}"
[launch]
command = ["{python}", "-c", "import sys; print('firmware panic'); sys.exit(3)"]
ready = "TAP listening on"
[conformance]
commands = [0]
"""


@pytest.fixture
def farm_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    require_target("host-fw")
    folder = tmp_path / "targets"
    folder.mkdir()
    shutil.copy(targets_dir() / "host-fw.toml", folder / "host-fw.toml")
    # host-fw.toml names its vendor declarations by a path relative to itself.
    shutil.copytree(targets_dir() / "declarations", folder / "declarations")
    (folder / "broken.toml").write_text(BROKEN, encoding="utf-8")
    monkeypatch.setenv("PQIOT_TARGETS", str(folder))
    return tmp_path


def test_farm_runs_every_target_and_quarantines_the_broken_one(farm_dir: Path) -> None:
    quarantine = farm_dir / "quarantine.json"
    first = {
        r.target: r
        for r in run_farm(["host-fw", "broken"], "accumulated", retries=1, quarantine=quarantine)
    }
    assert first["host-fw"].verdict is Verdict.PASS
    assert first["host-fw"].data["digest"] == ACCUMULATED_768_100, (
        "REQ-TAP-012 on the native firmware"
    )
    broken = first["broken"]
    assert broken.verdict is Verdict.BLOCKED and broken.attempts == 2, "one try plus one retry"
    assert "exited with code 3" in broken.detail and "firmware panic" in broken.detail
    stored = json.loads(quarantine.read_text(encoding="utf-8"))
    assert set(stored) == {"broken"} and "exited with code 3" in stored["broken"]["reason"]

    second = {
        r.target: r for r in run_farm(["host-fw", "broken"], "identify", quarantine=quarantine)
    }
    assert second["broken"].verdict is Verdict.BLOCKED
    assert second["broken"].detail.startswith("quarantined:") and second["broken"].attempts == 0
    assert second["host-fw"].verdict is Verdict.PASS

    Quarantine(quarantine).clear("broken")
    assert Quarantine(quarantine).load() == {}


def test_unknown_targets_and_jobs_are_refused_before_starting(farm_dir: Path) -> None:
    with pytest.raises(KeyError, match="no-such"):
        run_farm(["no-such"], "identify")
    with pytest.raises(ValueError, match="use one of identify, accumulated"):
        run_farm(["host-fw"], "nonsense")
