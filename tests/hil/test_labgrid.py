"""The labgrid path for real: a local coordinator and exporter on loopback export the
emulated board's UART (QEMU's serial TCP server) as a NetworkSerialPort; the harness
acquires the place, talks TAP through it, and always releases it."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pqiot.hil.labgrid_place import LabgridError, acquired_place, labgrid_bin, labgrid_client
from pqiot.hil.links import free_port, wait_for_port
from pqiot.hil.runner import TargetRunner, TargetUnavailable
from pqiot.hil.target_schema import parse_description

from .conftest import require_target


def _labgrid_bin() -> Path:
    try:
        return labgrid_bin()
    except LabgridError as exc:
        pytest.skip(str(exc))


PLACE = "qemu-m4-farm"


def _lg(coordinator: str, *args: str) -> str:
    result = subprocess.run(
        [labgrid_client(), "-x", coordinator, *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TargetRunner]]:
    bin_dir = _labgrid_bin()
    qemu = require_target("qemu-m4")
    qemu.up()
    workdir = tmp_path_factory.mktemp("labgrid")
    coordinator = f"127.0.0.1:{free_port()}"
    (workdir / "exporter.yaml").write_text(
        "emulated:\n  NetworkSerialPort:\n    host: 127.0.0.1\n"
        f"    port: {qemu.values['port']}\n    speed: 115200\n",
        encoding="utf-8",
    )
    stack = contextlib.ExitStack()
    processes = [
        subprocess.Popen(
            [str(bin_dir / "labgrid-coordinator"), "-l", coordinator],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        host, port = coordinator.split(":")
        wait_for_port(host, int(port), 20).close()
        deadline = time.monotonic() + 20
        exporter_log = stack.enter_context((workdir / "exporter.log").open("wb"))
        processes.append(
            subprocess.Popen(
                [
                    str(bin_dir / "labgrid-exporter"),
                    "-c",
                    coordinator,
                    "-n",
                    "bench",
                    "--hostname",
                    "127.0.0.1",
                    "exporter.yaml",
                ],
                cwd=workdir,
                stdout=exporter_log,
                stderr=subprocess.STDOUT,
            )
        )
        while "bench/emulated/NetworkSerialPort" not in _resources(coordinator):
            log = (workdir / "exporter.log").read_text(errors="replace")[-2000:]
            assert processes[-1].poll() is None, f"labgrid-exporter exited: {log}"
            assert time.monotonic() < deadline, f"the exporter did not register: {log}"
            time.sleep(0.2)
        _lg(coordinator, "-p", PLACE, "create")
        _lg(coordinator, "-p", PLACE, "add-match", "bench/emulated/*")
        yield coordinator, qemu
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        stack.close()
        qemu.down()


def _resources(coordinator: str) -> str:
    result = subprocess.run(
        [labgrid_client(), "-x", coordinator, "resources"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout


def _acquired_by(coordinator: str) -> str:
    show = _lg(coordinator, "-p", PLACE, "show")
    return next(line.split(":", 1)[1].strip() for line in show.splitlines() if "acquired:" in line)


def _description(coordinator: str) -> dict[str, object]:
    return {
        "schema": 1,
        "name": "farm-qemu",
        "kind": "qemu",
        "transport": {"url": "serial+tcp://{labgrid_host}:{labgrid_port}"},
        "clock": {"hz": 25_000_000, "cycle_counter": "qemu-icount"},
        "conformance": {"commands": [0, 2, 16]},
        "labgrid": {"place": PLACE, "coordinator": coordinator},
    }


def test_target_through_a_labgrid_place_is_healthy_and_the_place_is_released(
    farm: tuple[str, TargetRunner],
) -> None:
    coordinator, _ = farm
    description = parse_description(_description(coordinator))
    with TargetRunner(description) as runner:
        assert _acquired_by(coordinator) != "None"
        assert runner.transport_url.startswith("serial+tcp://127.0.0.1:")
        client = runner.client()
        health = runner.health_check(client)
        assert health.healthy, health.problems
        assert len(client.mlkem_keygen(512, bytes(32), bytes(32))[0]) == 800
        client.close()
    assert _acquired_by(coordinator) == "None"


@pytest.mark.slow
def test_the_place_is_released_when_the_run_fails(farm: tuple[str, TargetRunner]) -> None:
    coordinator, _ = farm
    with (
        pytest.raises(RuntimeError, match="mid-run failure"),
        acquired_place(PLACE, coordinator) as place,
    ):
        assert place.serial_host == "127.0.0.1"
        assert _acquired_by(coordinator) != "None"
        raise RuntimeError("mid-run failure")
    assert _acquired_by(coordinator) == "None"


@pytest.mark.slow
def test_a_place_that_does_not_exist_is_unavailable(farm: tuple[str, TargetRunner]) -> None:
    coordinator, _ = farm
    data = _description(coordinator)
    data["labgrid"] = {"place": "no-such-place", "coordinator": coordinator}
    with pytest.raises(TargetUnavailable, match="no-such-place"):
        TargetRunner(parse_description(data)).up()
    with pytest.raises(LabgridError), acquired_place("no-such-place", coordinator):
        pass
