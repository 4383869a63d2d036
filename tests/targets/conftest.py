"""Fixtures for the reference firmware tests: build the images once, start one agent per target.

Targets: ``host`` (native build, TAP on stdin/stdout with serial framing), ``qemu-m4``
(the Cortex-M4 ELF in ``qemu-system-arm -M mps2-an386``, TAP on UART0 through QEMU's
stdio) and ``host-asan`` (the host build with ASan+UBSan: one pass of every test). A target
whose toolchain is missing is skipped with the reason; CI installs them with ``make setup``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pqiot.hil.agent_client import Command, TapClient, spawn_host, spawn_qemu

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "build" / "firmware"
PQCLEAN = ROOT / "build" / "deps" / "pqclean-0.8.1" / ".unpacked"
IMAGES = {
    "host": FIRMWARE / "host" / "pqiot-fw",
    "host-asan": FIRMWARE / "host-asan" / "pqiot-fw",
    "qemu-m4": FIRMWARE / "qemu-m4" / "pqiot-fw.elf",
}
MAKE_TARGET = {"host": "host", "host-asan": "host-asan", "qemu-m4": "qemu-m4"}
TOOLS = {"host": ["gcc"], "host-asan": ["gcc"], "qemu-m4": ["arm-none-eabi-gcc", "qemu-system-arm"]}
TARGETS = ["host", "qemu-m4", "host-asan"]


def _missing_tools(target: str) -> list[str]:
    return [tool for tool in TOOLS[target] if shutil.which(tool) is None]


_built: set[str] = set()


def build_image(target: str) -> Path:
    """Build the images (once per session) or skip the test with the reason it cannot be built.

    The first call builds every image whose toolchain is present in one parallel make run:
    that is most of the cold-start cost of these tests.
    """
    missing = _missing_tools(target)
    if missing:
        pytest.skip(f"{target}: {', '.join(missing)} not installed (run 'make system-deps')")
    if target not in _built:
        if not PQCLEAN.exists():
            if shutil.which("npm") is None:
                pytest.skip("PQClean is not unpacked and npm is missing (run 'make setup')")
            _make("deps/pqclean")
        buildable = [t for t in TARGETS if not _missing_tools(t)]
        jobs = f"-j{os.cpu_count() or 2}"
        _make("-f", "targets/firmware/Makefile", *(MAKE_TARGET[t] for t in buildable), jobs)
        _built.update(buildable)
    return IMAGES[target]


def _make(*args: str) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(
            f"make {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )


@dataclass
class Agent:
    """A running firmware image and a client talking to it."""

    target: str
    client: TapClient
    identity: dict[str, Any]

    @property
    def is_qemu(self) -> bool:
        return self.target == "qemu-m4"

    def assert_alive(self) -> None:
        """REQ-TAP-005: after any error the DUT answers a following ECHO correctly."""
        response = self.client.call(Command.ECHO, {"data": b"\x00alive\xff"}, timeout=10)
        assert (response.status, response.result) == (0, {"data": b"\x00alive\xff"})


def start_agent(target: str, image: Path) -> TapClient:
    if target == "qemu-m4":
        return spawn_qemu(image, timeout=30)
    return spawn_host(image, timeout=30)


@pytest.fixture(scope="session", params=TARGETS)
def agent(request: pytest.FixtureRequest) -> Iterator[Agent]:
    target = str(request.param)
    image = build_image(target)
    client = start_agent(target, image)
    try:
        identity = client.identify()
        yield Agent(target, client, identity)
    finally:
        client.close()
