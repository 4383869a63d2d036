"""One real `pqiot bench` run on host-ref, shared by the tests that read its report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pqiot.cli.main import main

#: Small but complete: one suite, handshakes in both roles, warm-up, a 3-message signing set.
HOST_REF_ARGS = ("--suite", "-102", "--runs", "2", "--warmup", "1", "--sign-messages", "3")


def require_image(name: str) -> None:
    """Skip (with the command that fixes it) when a target's image or launcher is missing."""
    from pqiot.hil.runner import TargetRunner
    from pqiot.hil.targets import target

    description = target(name)
    image = TargetRunner(description).image_path()
    if image is not None and not image.exists():
        pytest.skip(f"{image} is missing; run `make firmware`")
    launcher = description.launch.command[0] if description.launch else "{python}"
    if not launcher.startswith("{") and shutil.which(launcher) is None:
        pytest.skip(f"{launcher} is not installed; run `make setup`")


@pytest.fixture(scope="session")
def host_ref_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, dict[str, Any]]:
    """(exit code, output folder, report) of `pqiot bench --target host-ref ...`."""
    out = tmp_path_factory.mktemp("bench-host-ref")
    code = main(["bench", "--target", "host-ref", *HOST_REF_ARGS, "--out", str(out)])
    report = json.loads((out / "bench-host-ref.json").read_text())
    return code, out, report
