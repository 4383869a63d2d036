"""Use a labgrid place (the farm's coordinator) for a target: acquire, read, always release.

A target description may name a labgrid place (``[labgrid] place = …``). The
harness acquires the place through ``labgrid-client`` before it touches the
device, reads the place's resources through labgrid's own ``RemotePlace``
(today: the ``NetworkSerialPort`` that carries TAP; run in labgrid's own
interpreter, see :data:`LABGRID_VENV`), and releases the place in
a ``finally`` — on success, on an exception, and on Ctrl-C. SIGTERM is turned
into an exception while a place is held, so a killed run releases it too; only
SIGKILL can leave a place acquired (``labgrid-client -p PLACE release`` frees it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = ["LabgridError", "PlaceResources", "acquired_place", "labgrid_bin", "labgrid_client"]


class LabgridError(RuntimeError):
    """labgrid is missing, the coordinator is unreachable, or the place cannot be used."""


@dataclass(frozen=True)
class PlaceResources:
    place: str
    serial_host: str
    serial_port: int
    serial_speed: int


#: labgrid lives in its own virtualenv by default: its pytest plugin (entry point
#: ``pytest11: labgrid``) breaks in-process pytester runs of the main test suite.
LABGRID_VENV = Path("build") / "labgrid-venv"

_RESOURCES_SCRIPT = """
import json, sys
from labgrid import Environment
from labgrid.resource import NetworkSerialPort
environment = Environment(sys.argv[1])
try:
    port = environment.get_target("main").get_resource(NetworkSerialPort)
    print(json.dumps({"host": port.host, "port": port.port, "speed": port.speed}))
finally:
    environment.cleanup()
"""


def labgrid_bin() -> Path:
    """The folder with ``labgrid-client`` (and its Python): PQIOT_LABGRID_BIN, the repo's
    ``build/labgrid-venv``, this interpreter's folder, or PATH."""
    from pqiot.hil.runner import repo_root

    candidates = [os.environ.get("PQIOT_LABGRID_BIN")]
    candidates += [str(repo_root() / LABGRID_VENV / "bin"), str(Path(sys.executable).parent)]
    on_path = shutil.which("labgrid-client")
    candidates.append(str(Path(on_path).parent) if on_path else None)
    for folder in candidates:
        if folder and (Path(folder) / "labgrid-client").exists():
            return Path(folder)
    raise LabgridError(
        "labgrid-client not found: python3 -m venv build/labgrid-venv && "
        "build/labgrid-venv/bin/pip install labgrid (or set PQIOT_LABGRID_BIN)"
    )


def labgrid_client() -> str:
    return str(labgrid_bin() / "labgrid-client")


def _client(coordinator: str, place: str, *args: str, timeout: float = 30.0) -> str:
    command = [labgrid_client(), "-x", coordinator, "-p", place, *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabgridError(
            f"labgrid-client {' '.join(args)} timed out; is the coordinator at {coordinator} up?"
        ) from None
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit code {result.returncode}"
        raise LabgridError(f"labgrid-client -p {place} {' '.join(args)} failed: {detail}")
    return result.stdout


def _resources(coordinator: str, place: str) -> PlaceResources:
    """The place's NetworkSerialPort, read through labgrid's RemotePlace in labgrid's Python."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as config:
        config.write(
            "targets:\n  main:\n    resources:\n      RemotePlace:\n"
            f"        name: {place}\n"
            f"options:\n  coordinator_address: '{coordinator}'\n"
        )
    try:
        result = subprocess.run(
            [str(labgrid_bin() / "python"), "-c", _RESOURCES_SCRIPT, config.name],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.unlink(config.name)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise LabgridError(
            f"place {place!r} has no usable NetworkSerialPort: {lines[-1] if lines else '?'}"
        )
    port = json.loads(result.stdout.strip().splitlines()[-1])
    return PlaceResources(place, str(port["host"]), int(port["port"]), int(port["speed"]))


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum} while holding a labgrid place")


@contextmanager
def acquired_place(place: str, coordinator: str | None = None) -> Iterator[PlaceResources]:
    """Acquire ``place`` for the duration of the block; released however the block ends."""
    address = coordinator or os.environ.get("LG_COORDINATOR") or "127.0.0.1:20408"
    _client(address, place, "acquire")
    previous = None
    try:
        try:
            previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
        except ValueError:  # not the main thread: cannot install handlers
            previous = None
        yield _resources(address, place)
    finally:
        try:
            _client(address, place, "release")
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
