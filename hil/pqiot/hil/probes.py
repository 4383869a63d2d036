"""Debug-probe backends behind one small interface (labgrid's *driver* layer).

The harness needs the same few operations from every probe: reset, halt,
resume, read and write memory. :class:`GdbProbe` speaks the GDB remote
protocol (QEMU's gdbstub, OpenOCD, JLinkGDBServer); :class:`PyOcdProbe` drives
an SWD/CMSIS-DAP/ST-LINK probe through pyOCD. ``open_probe`` picks one from a
target description.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from pqiot.hil.gdb_remote import GdbRemote
from pqiot.hil.target_schema import Probe

__all__ = [
    "DebugProbe",
    "GdbProbe",
    "ProbeNotFound",
    "PyOcdProbe",
    "discover_pyocd_probes",
    "open_probe",
]


class ProbeNotFound(RuntimeError):
    """No probe matches; the message says what was looked for and what to check."""


class DebugProbe(Protocol):
    def reset(self, halt: bool = False) -> None: ...

    def halt(self) -> None: ...

    def resume(self) -> None: ...

    def read_memory(self, address: int, length: int) -> bytes: ...

    def write_memory(self, address: int, data: bytes) -> None: ...

    def close(self) -> None: ...


class GdbProbe:
    """A GDB server as a probe. Reset is ``monitor system_reset`` (QEMU) or ``monitor reset``."""

    def __init__(self, remote: GdbRemote, reset_command: str = "system_reset") -> None:
        self.remote = remote
        self.reset_command = reset_command

    def reset(self, halt: bool = False) -> None:
        was_running = self.remote.running
        if was_running:
            self.remote.interrupt()
        self.remote.monitor(self.reset_command)
        if not halt:
            self.remote.cont()

    def halt(self) -> None:
        if self.remote.running:
            self.remote.interrupt()

    def resume(self) -> None:
        if not self.remote.running:
            self.remote.cont()

    def read_memory(self, address: int, length: int) -> bytes:
        return self.remote.read_memory(address, length)

    def write_memory(self, address: int, data: bytes) -> None:
        self.remote.write_memory(address, data)

    def close(self) -> None:
        self.remote.close()


def _pyocd(module: str) -> Any:
    """Import a pyOCD module lazily (pyOCD is large and ships no type information)."""
    return importlib.import_module(module)


def discover_pyocd_probes() -> list[str]:
    """Unique IDs of the probes pyOCD sees now (USB); empty when none is attached."""
    try:
        aggregator = _pyocd("pyocd.probe.aggregator")
    except ImportError as exc:
        raise ProbeNotFound("pyOCD is not installed: pip install pyocd") from exc
    probes = aggregator.DebugProbeAggregator.get_all_connected_probes()
    return [str(probe.unique_id) for probe in probes]


class PyOcdProbe:
    """An SWD probe through pyOCD's session API (flash, reset, halt/resume, memory)."""

    def __init__(self, target_type: str, uid: str | None = None) -> None:
        try:
            helpers = _pyocd("pyocd.core.helpers")
        except ImportError as exc:
            raise ProbeNotFound("pyOCD is not installed: pip install pyocd") from exc
        attached = discover_pyocd_probes()
        if uid is not None and uid not in attached:
            raise ProbeNotFound(
                f"no debug probe with unique ID {uid!r} is attached (pyOCD sees: "
                f"{', '.join(attached) or 'none'}); check the USB cable and `pyocd list`"
            )
        if uid is None and not attached:
            raise ProbeNotFound("no debug probe is attached; check the USB cable and `pyocd list`")
        self._session: Any = helpers.ConnectHelper.session_with_chosen_probe(
            unique_id=uid, target_override=target_type, blocking=False, auto_open=True
        )
        if self._session is None:
            raise ProbeNotFound(
                f"pyOCD could not open probe {uid or attached[0]!r} for {target_type}"
            )
        self._target: Any = self._session.board.target

    def reset(self, halt: bool = False) -> None:
        if halt:
            self._target.reset_and_halt()
        else:
            self._target.reset()

    def halt(self) -> None:
        self._target.halt()

    def resume(self) -> None:
        self._target.resume()

    def read_memory(self, address: int, length: int) -> bytes:
        return bytes(self._target.read_memory_block8(address, length))

    def write_memory(self, address: int, data: bytes) -> None:
        self._target.write_memory_block8(address, list(data))

    def flash(self, image: str) -> None:
        """Program ``image`` (ELF, hex or bin) and reset."""
        programmer = _pyocd("pyocd.flash.file_programmer")
        programmer.FileProgrammer(self._session).program(image)
        self.reset()

    def close(self) -> None:
        self._session.close()


def open_probe(probe: Probe, address: str | None = None) -> DebugProbe:
    """The backend a description's ``[probe]`` names (``address`` with placeholders resolved)."""
    if probe.kind == "gdb":
        return GdbProbe(GdbRemote.connect(address or probe.address or ""))
    if probe.kind == "pyocd":
        assert probe.target_type is not None
        return PyOcdProbe(probe.target_type, probe.uid)
    raise ProbeNotFound(f"unknown probe kind {probe.kind!r}")
