"""The emulated Cortex-M4 (qemu-m4): health, KATs, measurement labels, the GDB probe, and
recovery from a board that dies mid-run. One QEMU instance is shared per module."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from pqiot.hil.client import AgentClient
from pqiot.hil.footprint import elf_footprint, symbol_address
from pqiot.hil.gdb_remote import GdbRemote
from pqiot.hil.runner import TargetRunner
from pqiot.hil.stack_probe import stack_high_water, stack_region
from pqiot.vectors.accumulated import accumulated_digest

from .conftest import require_target


@pytest.fixture(scope="module")
def qemu() -> Iterator[tuple[TargetRunner, AgentClient]]:
    runner = require_target("qemu-m4")
    runner.use_probe = True
    runner.up()
    client = runner.client()
    yield runner, client
    client.close()
    runner.down()


def _first_kat(parameter_set: int) -> dict[str, bytes]:
    import cryptography_vectors

    record: dict[str, bytes] = {}
    with cryptography_vectors.open_vector_file(
        f"asymmetric/MLKEM/kat_MLKEM_{parameter_set}.rsp", "r"
    ) as f:
        for line in f:
            if " = " in line:
                key, value = line.strip().split(" = ", 1)
                if key != "count":
                    record[key] = bytes.fromhex(value)
            elif record:
                break
    return record


def test_qemu_target_is_healthy_and_declares_the_icount_proxy(
    qemu: tuple[TargetRunner, AgentClient],
) -> None:
    runner, client = qemu
    health = runner.health_check(client)
    assert health.healthy, health.problems
    assert health.identity["measure"]["cycles"] == "qemu-icount"


def test_mlkem768_kat_through_the_agent(qemu: tuple[TargetRunner, AgentClient]) -> None:
    """REQ-TAP-009 on the Cortex-M4 image: keygen, encaps, decaps of the first FIPS 203 KAT record."""
    _, client = qemu
    kat = _first_kat(768)
    ek, dk = client.mlkem_keygen(768, kat["d"], kat["z"])
    assert (ek, dk) == (kat["pk"], kat["sk"])
    c, k = client.mlkem_encaps(768, ek, kat["msg"])
    assert (c, k) == (kat["ct"], kat["ss"])
    assert client.mlkem_decaps(768, dk, c) == k


def test_accumulated_run_matches_the_reference(qemu: tuple[TargetRunner, AgentClient]) -> None:
    """§13.7 on the M4 image equals the Python reference for the same n (cross-implementation)."""
    _, client = qemu
    assert client.accumulated("ml-kem-768", 10).hex() == accumulated_digest("ML-KEM-768", 10)


def test_measurement_is_labelled_instruction_proxy_never_cycles(
    qemu: tuple[TargetRunner, AgentClient],
) -> None:
    """REQ-TAP-018: QEMU reports qemu-icount; the harness calls the unit instruction_proxy."""
    _, client = qemu
    client.mlkem_keygen(768, bytes(32), bytes(32))
    measurement = client.measure()
    assert measurement.cycle_source == "qemu-icount"
    assert measurement.unit == "instruction_proxy"
    assert measurement.stack_bytes is not None and 1000 < measurement.stack_bytes < 64 * 1024
    client.mlkem_keygen(768, bytes(32), bytes(32))
    # Deterministic up to the SysTick quantum: the interval may straddle one more tick.
    assert abs(client.measure().cycles - measurement.cycles) <= 1


def test_probe_stack_high_water_agrees_with_the_agents_painting(
    qemu: tuple[TargetRunner, AgentClient],
) -> None:
    """Reading the painted stack through the gdbstub gives the agent's figure plus the caller frames."""
    runner, client = qemu
    image = runner.image_path()
    assert image is not None and runner.gdb is not None
    region = stack_region(image)
    client.mlkem_keygen(1024, bytes(32), bytes(32))
    agent = client.measure().stack_bytes
    runner.gdb.interrupt()
    try:
        high_water = stack_high_water(runner.gdb, region)
    finally:
        runner.gdb.cont()
    assert agent is not None
    assert 0 < high_water - agent < 4096, (high_water, agent)


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-size") is None, reason="arm-none-eabi-size not installed"
)
def test_footprint_equals_arm_none_eabi_size(qemu: tuple[TargetRunner, AgentClient]) -> None:
    runner, _ = qemu
    image = runner.image_path()
    assert image is not None
    text, data, bss = (
        int(v)
        for v in subprocess.run(
            ["arm-none-eabi-size", str(image)], capture_output=True, text=True, check=True
        )
        .stdout.splitlines()[1]
        .split()[:3]
    )
    footprint = elf_footprint(image)
    assert (footprint.text, footprint.data, footprint.bss) == (text, data, bss)
    assert footprint.flash_bytes == text + data and footprint.ram_bytes == data + bss


def test_killing_the_emulated_board_mid_run_loses_nothing(
    qemu: tuple[TargetRunner, AgentClient],
) -> None:
    """QEMU is SIGKILLed during ACCUMULATED: the harness restarts it and re-runs; same digest."""
    runner, client = qemu
    recoveries = client.recoveries
    killer = threading.Timer(0.3, runner.kill)
    killer.start()
    started = time.monotonic()
    digest = client.accumulated("ml-kem-768", 40)
    killer.join()
    assert client.recoveries == recoveries + 1, "the run was interrupted and recovered"
    assert digest.hex() == accumulated_digest("ML-KEM-768", 40)
    assert time.monotonic() - started < 30
    assert runner.health_check(client).healthy


def test_gdb_probe_reset_registers_memory_and_breakpoints() -> None:
    """A fresh QEMU halted at reset: SP/PC from the vector table, memory r/w, Z0 on tap_handle."""
    runner = require_target("qemu-m4")
    runner.use_probe = True
    runner.prepare_launch()
    image = runner.image_path()
    assert image is not None
    process = subprocess.Popen(
        runner.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        gdb = GdbRemote.connect(f"127.0.0.1:{runner.values['gdb_port']}")
        assert gdb.halt_reason().signal == 5
        registers = gdb.read_registers()
        top, reset = symbol_address(image, "_stack_top"), symbol_address(image, "Reset_Handler")
        assert (registers[13], registers[15]) == (top, reset & ~1)
        vector = gdb.read_memory(0, 8)
        assert vector == top.to_bytes(4, "little") + reset.to_bytes(4, "little")
        stepped = gdb.step()
        assert stepped.signal == 5 and gdb.read_registers()[15] != reset & ~1, "one instruction"
        gdb.write_memory(0x2000_0100, b"pqiot-probe")
        assert gdb.read_memory(0x2000_0100, 11) == b"pqiot-probe"
        handler = symbol_address(image, "tap_handle") & ~1
        gdb.set_breakpoint(handler)
        from pqiot.hil.links import connect_url

        tap = connect_url(runner.transport_url, timeout=10, connect_timeout=10)
        replies: list[object] = []
        gdb.cont()
        worker = threading.Thread(
            target=lambda: replies.append(tap.call(2, {"data": b"bp"}).result)
        )
        worker.start()
        stop = gdb.wait_stop(timeout=10)
        assert stop.signal == 5 and gdb.read_registers()[15] == handler
        gdb.remove_breakpoint(handler)
        gdb.cont()
        worker.join(timeout=10)
        assert replies == [{"data": b"bp"}]
        gdb.interrupt()
        gdb.monitor("system_reset")
        assert gdb.read_registers()[15] == reset & ~1, (
            "monitor system_reset returns to the reset vector"
        )
        tap.close()
        gdb.kill()
        gdb.close()
    finally:
        process.kill()
        process.wait()
        runner.down()  # removes the working directory prepare_launch made


def test_probe_reset_recovers_the_dut_through_the_gdbstub(
    qemu: tuple[TargetRunner, AgentClient],
) -> None:
    """A reset through the debug probe (``monitor system_reset``) reboots the firmware:
    the same QEMU process answers again, with its state gone (MEASURE has nothing)."""
    runner, client = qemu
    process = runner.process
    client.mlkem_keygen(512, bytes(32), bytes(32))
    client.close()
    runner.probe_reset()
    fresh = runner.client()
    assert fresh.echo(b"after reset") == b"after reset"
    from pqiot.hil.client import StatusError
    from pqiot.reference.tap.codes import Status

    with pytest.raises(StatusError) as caught:
        fresh.measure()
    assert caught.value.status == Status.INVALID_STATE
    assert runner.process is process, "reset through the probe, not a process restart"
    fresh.close()


def test_measurement_report_records_unit_clock_stack_and_footprint(
    qemu: tuple[TargetRunner, AgentClient],
) -> None:
    from pqiot.hil.measure import measure_target

    runner, client = qemu
    report = measure_target(runner, client, repeats=2, primitives=["ml-kem-512"])
    assert report["unit"] == "instruction_proxy"
    assert report["clock"]["hz"] == 25_000_000 and report["clock"]["cache"]
    assert [op["operation"] for op in report["operations"]] == [
        "ml-kem-512 keygen",
        "ml-kem-512 encaps",
        "ml-kem-512 decaps",
    ]
    for op in report["operations"]:
        assert op["cycle_source"] == "qemu-icount" and op["unit"] == "instruction_proxy"
        assert op["min"] <= op["median"] <= op["max"] and op["stack_bytes"] > 1000
    assert report["footprint"]["flash_bytes"] > 0


def test_the_emulated_uart_resyncs_after_line_noise(qemu: tuple[TargetRunner, AgentClient]) -> None:
    """Garbage on the UART (bad COBS, bad CRC, a frame without delimiter) is dropped by the
    firmware's receiver (REQ-SER-003); the next command is answered without any recovery."""
    _, client = qemu
    recoveries = client.recoveries
    channel = client.tap.channel
    noise = bytes(range(1, 200)) + b"\x00" + b"\x05\x01\x00\x00\x01\x00" + b"\xff" * 50 + b"\x00"
    channel.send_bytes(noise)
    assert client.echo(b"after noise") == b"after noise"
    assert client.recoveries == recoveries
