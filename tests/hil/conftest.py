"""Fixtures for HIL tests: targets are skipped (with the command to fix it) when their
firmware image or emulator is not installed, never faked."""

from __future__ import annotations

import shutil

import pytest

from pqiot.hil.runner import TargetRunner
from pqiot.hil.targets import target


def require_target(name: str) -> TargetRunner:
    """A runner for ``name``, or skip when its image or launcher is missing."""
    description = target(name)
    runner = TargetRunner(description)
    image = runner.image_path()
    if image is not None and not image.exists():
        pytest.skip(f"{image} is missing; run `make firmware`")
    launcher = description.launch.command[0] if description.launch else "{python}"
    if not launcher.startswith("{") and shutil.which(launcher) is None:
        pytest.skip(f"{launcher} is not installed; run `make setup`")
    return runner
