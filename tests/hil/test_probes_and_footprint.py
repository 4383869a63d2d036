"""pyOCD at the boundary testable without a probe; ELF footprint of the host image.

Honest scope: no SWD probe is attached to CI machines, so the pyOCD tests check
discovery and the errors a user sees; flashing, reset and memory access through
pyOCD have not been exercised against real hardware.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pqiot.hil.footprint import elf_footprint, symbol_range
from pqiot.hil.probes import ProbeNotFound, PyOcdProbe, discover_pyocd_probes, open_probe
from pqiot.hil.targets import target

from .conftest import require_target

pyocd = pytest.importorskip("pyocd", reason="pyOCD is not installed: pip install pyocd")


def test_pyocd_discovery_returns_unique_ids() -> None:
    probes = discover_pyocd_probes()
    assert isinstance(probes, list) and all(isinstance(uid, str) for uid in probes)


def test_opening_a_probe_that_is_not_attached_names_the_uid_and_what_to_check() -> None:
    board = target("nucleo-l4r5zi")
    assert board.probe is not None and board.probe.uid is not None
    if board.probe.uid in discover_pyocd_probes():  # pragma: no cover - only on the HIL bench
        pytest.skip("the example board's probe is attached")
    with pytest.raises(ProbeNotFound, match=board.probe.uid) as caught:
        open_probe(board.probe)
    assert "pyocd list" in str(caught.value)


def test_any_probe_request_without_hardware_is_a_clear_error() -> None:
    if discover_pyocd_probes():  # pragma: no cover - only on the HIL bench
        pytest.skip("a probe is attached")
    with pytest.raises(ProbeNotFound, match="no debug probe is attached"):
        PyOcdProbe("lpc55s69")


def test_gdb_probe_without_server_is_a_clear_error() -> None:
    from pqiot.hil.gdb_remote import GdbError, GdbRemote
    from pqiot.hil.links import free_port

    with pytest.raises(GdbError, match="no GDB server at"):
        GdbRemote.connect(f"127.0.0.1:{free_port()}", timeout=0.3)


def test_host_firmware_footprint_and_symbols() -> None:
    runner = require_target("host-fw")
    image = runner.image_path()
    assert image is not None
    footprint = elf_footprint(image)
    assert footprint.text > 50_000 and footprint.flash_bytes == footprint.text + footprint.data
    assert {s.category for s in footprint.sections} <= {"text", "data", "bss"}
    address, size = symbol_range(image, "tap_handle")
    assert address > 0 and size > 0
    with pytest.raises(KeyError, match="no_such_symbol"):
        symbol_range(image, "no_such_symbol")


def test_a_non_elf_file_is_refused() -> None:
    with pytest.raises(ValueError, match="is not an ELF image"):
        elf_footprint(Path(__file__))
