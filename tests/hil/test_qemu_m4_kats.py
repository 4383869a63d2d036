"""Primitive known-answer vectors through the Test Agent on the emulated Cortex-M4 (issue 6).

Everything crosses QEMU's emulated CMSDK UART, which takes one byte per QEMU
main-loop round trip (~15-35 KB/s on a loaded 2-core runner even with the
firmware sleeping in WFI between bytes; see targets/firmware/platform/mps2-an386/board.c).
The whole primitive catalogue moves about 1.5 MB: about 2 minutes on an idle
2-core machine since the firmware sleeps in WFI (it took ~6 minutes before), so
``make test`` runs every device set completely (issue 6). Every vector that runs
must pass; a skip is allowed only for what the image does not declare (ML-DSA-87).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pqiot.hil.client import AgentClient
from pqiot.hil.primitive_adapter import TapPrimitiveAgent
from pqiot.hil.runner import TargetRunner
from pqiot.vectors.catalog import all_sets, find_set
from pqiot.vectors.model import VectorSet
from pqiot.vectors.runner import run_set

from .conftest import require_target

#: Records of the one algorithm the M4 image does not declare, ML-DSA-87 (COSE -50).
UNDECLARED = {"mldsa-kat": 3, "accumulated-100-mldsa": 1, "negative-primitives": 9}


@pytest.fixture(scope="module")
def qemu() -> Iterator[tuple[TargetRunner, TapPrimitiveAgent]]:
    runner: TargetRunner = require_target("qemu-m4")
    runner.up()
    client: AgentClient = runner.client()
    yield runner, TapPrimitiveAgent(client, "qemu-m4")
    client.close()
    runner.down()


@pytest.fixture
def agent(qemu: tuple[TargetRunner, TapPrimitiveAgent]) -> TapPrimitiveAgent:
    return qemu[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 10 ms


def test_an_idle_board_sleeps_in_wfi_instead_of_polling_the_uart(
    qemu: tuple[TargetRunner, TapPrimitiveAgent],
) -> None:
    """board.c waits for UART bytes in WFI: an idle emulated M4 costs (almost) no host CPU,
    where the old busy-polling loop kept one core busy, and it still answers at once."""
    runner, agent = qemu
    assert runner.process is not None
    if not Path(f"/proc/{runner.process.pid}/stat").exists():
        pytest.skip("needs /proc to read QEMU's CPU time")
    before, started = _cpu_seconds(runner.process.pid), time.monotonic()
    time.sleep(1.0)
    busy = (_cpu_seconds(runner.process.pid) - before) / (time.monotonic() - started)
    assert busy < 0.1, f"QEMU used {busy:.0%} of a core while the board was idle"
    assert agent.client.echo(b"awake") == b"awake"


def _passes_on_the_device(vector_set: VectorSet, agent: TapPrimitiveAgent) -> None:
    result = run_set(vector_set, agent, include_slow=True, reference=False)
    assert result.failed == 0, [f"{f.case}: {f.detail}" for f in result.failures[:3]]
    assert result.blocked == 0, result.blocked_reasons
    assert result.skipped == UNDECLARED.get(vector_set.name, 0), result.skip_reasons
    assert result.passed == vector_set.count() - result.skipped > 0


def _device_sets() -> list[str]:
    """Every primitive set a device can run (not reference-only), without the 10k-run and
    full-file sets (those are reference-side statistics, `pqiot vectors verify --slow`)."""
    return [
        s.name
        for s in all_sets()
        if not s.reference_only and s.name not in ("accumulated-10k",) and "full" not in s.name
    ]


@pytest.mark.parametrize("name", _device_sets())
def test_primitive_kat_set_through_the_agent_on_qemu_m4(
    agent: TapPrimitiveAgent, name: str
) -> None:
    """REQ-TAP-009..012: the whole set, answered by the Cortex-M4 image over the UART."""
    _passes_on_the_device(find_set(name), agent)


def test_every_device_set_runs_on_qemu_m4() -> None:
    """The catalogue the M4 must answer: nothing left to a slow run."""
    assert {
        "mlkem-kat",
        "mldsa-kat",
        "aes256gcm-cavp",
        "chacha20poly1305",
        "hkdf-sha256",
        "falcon-kat",
        "accumulated-100",
        "accumulated-100-mldsa",
        "negative-primitives",
    } <= set(_device_sets())
