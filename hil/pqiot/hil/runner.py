"""Bring a target up, check its health, and tear it down (the *strategy* in labgrid's terms).

One :class:`TargetRunner` per target description. Host and QEMU targets are
launched as child processes from ``[launch]``; boards are only connected to
(their recovery goes through the probe). ``restart`` is the recovery the typed
client calls when the DUT hangs, and ``power_cycle`` the same restart asked for on
purpose (persistence tests); ``kill`` exists so tests can crash the DUT on
purpose and watch the harness recover.

Each runner owns a working directory (placeholder ``{workdir}``) for what a
target keeps across its own restarts, such as the NVM file that stands in for
flash: it outlives ``restart``/``power_cycle`` and is removed by ``down``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from pqiot.hil.agent_client import AgentError, TapClient
from pqiot.hil.client import AgentClient, StatusError
from pqiot.hil.conformance import ConformanceStatement, statement_problems
from pqiot.hil.links import connect_url, free_port
from pqiot.hil.target_schema import TargetDescription
from pqiot.hil.verdict import Blocked

__all__ = ["Health", "TargetRunner", "TargetUnavailable", "repo_root"]


class TargetUnavailable(RuntimeError):
    """The target cannot be brought up (missing image, tool, board); the message says what to do."""


def repo_root() -> Path:
    """The checkout (``targets/`` and ``build/`` live here); PQIOT_REPO overrides it."""
    override = os.environ.get("PQIOT_REPO")
    return Path(override) if override else Path(__file__).resolve().parents[3]


@dataclass
class Health:
    """Outcome of a health check; ``healthy`` when the agent is operational and matches
    its description (statement consistency is judged separately)."""

    target: str
    healthy: bool
    identity: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: REQ-CONF-003 inconsistencies of the IDENTIFY statement: reported, and they block a
    #: conformance claim, but the agent is still usable for primitive tests and benchmarks.
    statement_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "healthy": self.healthy,
            "problems": self.problems,
            "statement_problems": self.statement_problems,
            "notes": self.notes,
            "elapsed_s": round(self.elapsed_s, 3),
            "identity": _jsonable(self.identity),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class TargetRunner:
    """Lifecycle of one target: ``up`` -> ``client``/``health_check`` -> ``down``."""

    def __init__(self, description: TargetDescription, *, use_probe: bool = False) -> None:
        self.description = description
        self.use_probe = use_probe
        self.root = repo_root()
        self.process: subprocess.Popen[bytes] | None = None
        self.values: dict[str, str] = {}
        self.starts = 0
        self._log: IO[bytes] | None = None
        self._log_path: Path | None = None
        self._taps: list[TapClient] = []
        self.gdb: Any = None
        self._place: contextlib.ExitStack | None = None
        self.workdir: Path | None = None

    # -- placeholders and launch ------------------------------------------------------

    def image_path(self) -> Path | None:
        image = self.description.firmware.image
        if image is None:
            return None
        path = Path(image)
        return path if path.is_absolute() else self.root / path

    def _substitute(self, text: str) -> str:
        return re.sub(r"\{([a-z_]+)\}", lambda m: self.values[m.group(1)], text)

    def prepare_launch(self) -> None:
        """Fill the placeholders (fresh free ports) without starting anything.

        ``up`` calls it; tests that start the command themselves call it first, and
        ``down`` afterwards (it removes the working directory made here).
        """
        image = self.image_path()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"pqiot-{self.description.name}-run-"))
        self.values = {
            "workdir": str(self.workdir),
            "repo": str(self.root),
            "python": sys.executable,
            "image": str(image) if image else "",
            "port": str(free_port()),
            "gdb_port": str(free_port()),
        }

    @property
    def transport_url(self) -> str:
        return self._substitute(self.description.transport)

    def command(self) -> list[str]:
        launch = self.description.launch
        if launch is None:
            return []
        argv = [self._substitute(part) for part in launch.command]
        if self.use_probe:
            argv += [self._substitute(part) for part in launch.probe_args]
        return argv

    def log_tail(self, limit: int = 2000) -> str:
        """The end of the target's stdout/stderr (read through its own handle: the child's
        append-mode handle keeps its offset)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_bytes()[-limit:].decode(errors="replace").strip()

    def up(self) -> TargetRunner:
        """Start (host, qemu) or reach (board) the target; raise TargetUnavailable if impossible.

        A failure part-way (after a labgrid place was acquired or a process started)
        tears down what was set up before the exception propagates.
        """
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def _up(self) -> None:
        description = self.description
        self.prepare_launch()
        image = self.image_path()
        if description.labgrid_place is not None:
            self._acquire_place(description.labgrid_place, description.labgrid_coordinator)
        if description.launch is not None:
            if image is not None and not image.exists():
                build = description.firmware.build or "build it"
                raise TargetUnavailable(
                    f"{description.name}: firmware image {image} does not exist; run `{build}`"
                )
            self._launch()
        elif description.scheme == "serial":
            port = urlsplit(self.transport_url).path
            if not Path(port).exists():
                raise TargetUnavailable(
                    f"{description.name}: serial port {port} does not exist; "
                    "is the board connected? "
                    f"(the port is transport.url in {description.source or 'its description'})"
                )
        if self.use_probe and description.probe is not None and description.probe.kind == "gdb":
            from pqiot.hil.gdb_remote import GdbError, GdbRemote

            address = self._substitute(description.probe.address or "")
            try:
                self.gdb = GdbRemote.connect(address, timeout=description.timeouts.boot)
                self.gdb.cont()
            except GdbError as exc:
                raise TargetUnavailable(
                    f"{description.name}: debug probe at {address}: {exc}; "
                    "is the GDB server (QEMU -gdb, OpenOCD, JLinkGDBServer) running?"
                ) from None
        self.starts += 1

    def _acquire_place(self, place: str, coordinator: str | None) -> None:
        """Hold the labgrid place until :meth:`down`; its serial port fills the placeholders."""
        from pqiot.hil.labgrid_place import LabgridError, acquired_place

        stack = contextlib.ExitStack()
        try:
            resources = stack.enter_context(acquired_place(place, coordinator))
        except LabgridError as exc:
            stack.close()
            raise TargetUnavailable(f"{self.description.name}: {exc}") from None
        self._place = stack
        self.values["labgrid_host"] = resources.serial_host
        self.values["labgrid_port"] = str(resources.serial_port)

    def _launch(self) -> None:
        argv = self.command()
        scheme = self.description.scheme
        fd, name = tempfile.mkstemp(prefix=f"pqiot-{self.description.name}-", suffix=".log")
        os.close(fd)
        self._log_path = Path(name)
        self._log = self._log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if scheme == "serial+stdio" else subprocess.DEVNULL,
                stdout=subprocess.PIPE if scheme == "serial+stdio" else self._log,
                stderr=self._log,
                cwd=self.root,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise TargetUnavailable(
                f"{self.description.name}: cannot run {argv[0]!r}: {exc.strerror}; install it"
            ) from None
        ready = self.description.launch.ready if self.description.launch else None
        if ready is None:
            return
        deadline = time.monotonic() + self.description.timeouts.boot
        pattern = re.compile(ready)
        while not pattern.search(self.log_tail(1 << 16)):
            if self.process.poll() is not None:
                raise TargetUnavailable(
                    f"{self.description.name}: {argv[0]} exited with code "
                    f"{self.process.returncode} "
                    f"before it was ready; its output ends with: {self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.down()
                boot = self.description.timeouts.boot
                raise TargetUnavailable(f"{self.description.name}: not ready within {boot:.0f} s")
            time.sleep(0.02)

    # -- connections ------------------------------------------------------------------

    def connect(self) -> TapClient:
        """A fresh TAP channel to the running target."""
        if self.description.launch is not None and (
            self.process is None or self.process.poll() is not None
        ):
            raise AgentError(f"{self.description.name} is not running")
        tap = connect_url(
            self.transport_url,
            timeout=self.description.timeouts.command,
            connect_timeout=self.description.timeouts.boot,
            process=self.process,
        )
        self._taps.append(tap)
        return tap

    def probe_reset(self) -> None:
        """Recovery through the debug probe: reset the core, let the firmware boot again.

        Used for targets the harness does not launch (boards); QEMU's gdbstub serves it
        too (``monitor system_reset``). The TAP link is reopened by the client afterwards.
        """
        from pqiot.hil.probes import GdbProbe, open_probe

        probe_spec = self.description.probe
        if probe_spec is None:
            raise TargetUnavailable(f"{self.description.name} has no [probe] to reset it with")
        self._close_taps()
        if probe_spec.kind == "gdb" and self.gdb is not None:
            probe: Any = GdbProbe(self.gdb)
            probe.reset()
        else:
            probe = open_probe(probe_spec, self._substitute(probe_spec.address or ""))
            try:
                probe.reset()
            finally:
                probe.close()

    def recovery(self) -> Any:
        """The recovery the typed client uses: restart what we launch, else reset via the probe."""
        if self.description.launch is not None:
            return self.restart
        if self.description.probe is not None:
            return self.probe_reset
        return None

    def client(self) -> AgentClient:
        """The typed client; it recovers by restarting (host, qemu) or probe reset (board)."""
        t = self.description.timeouts
        return AgentClient(
            self.connect,
            recover=self.recovery(),
            timeout=t.command,
            long_timeout=t.accumulated,
            resync_timeout=min(2.0, t.command),
        )

    # -- health -----------------------------------------------------------------------

    def health_check(self, client: AgentClient) -> Health:
        """IDENTIFY, ECHO, and the declared conformance statement against the identity."""
        start = time.monotonic()
        health = Health(self.description.name, healthy=False)
        try:
            identity = client.identify()
            health.identity = dict(identity)
            data = secrets.token_bytes(16)
            if client.echo(data) != data:
                health.problems.append("ECHO returned different bytes")
        except (Blocked, StatusError, AgentError) as exc:
            health.problems.append(f"agent did not answer: {exc}")
            health.elapsed_s = time.monotonic() - start
            return health
        if identity.get("tap") != 1:
            health.problems.append(f"IDENTIFY tap version is {identity.get('tap')!r}, expected 1")
        if identity.get("build") != "test":
            health.problems.append(f"IDENTIFY build is {identity.get('build')!r}, expected 'test'")
        declared = ConformanceStatement.from_identity(identity)
        health.statement_problems = statement_problems(declared)
        gaps = self.description.conformance.missing_from(declared)
        for key, items in gaps.items():
            health.problems.append(
                f"target description declares {key} {items} that IDENTIFY does not"
            )
        if not declared.claims_protocol:
            health.notes.append("primitives-only test build: no protocol conformance is claimed")
        measure = identity.get("measure")
        clock = self.description.clock
        if (
            isinstance(measure, dict)
            and clock is not None
            and measure.get("cycles") != clock.cycle_counter
        ):
            health.problems.append(
                f"IDENTIFY measure.cycles is {measure.get('cycles')!r}, the description says "
                f"{clock.cycle_counter!r}"
            )
        health.healthy = not health.problems
        health.elapsed_s = time.monotonic() - start
        return health

    # -- teardown and recovery --------------------------------------------------------

    def _close_taps(self) -> None:
        for tap in self._taps:
            with contextlib.suppress(Exception):
                tap.close()
        self._taps.clear()

    def _close_links(self) -> None:
        self._close_taps()
        if self.gdb is not None:
            self.gdb.close()
            self.gdb = None

    def kill(self) -> None:
        """SIGKILL the target process (tests: the board 'dies' mid-run)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def _kill_group(self) -> None:
        """SIGKILL what is left of the target's process group (orphaned children)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def down(self) -> None:
        """Power the target off for good: also removes its working directory (NVM file)."""
        self._power_off()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _power_off(self) -> None:
        self._close_links()
        if self.process is not None:
            # The whole process group, even when the launched process already
            # died: a crashed launcher must not leave its children running.
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                # A hung (stopped) target only sees SIGTERM once continued.
                os.killpg(self.process.pid, signal.SIGCONT)
                self.process.wait(timeout=2)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                self.kill()
            self._kill_group()
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None
        if self._place is not None:
            place, self._place = self._place, None
            place.close()

    def restart(self) -> None:
        """Recovery: a clean power cycle of the emulated or host target.

        What the target stored in its working directory (its NVM) survives, as flash
        survives a power cycle; everything else it held is gone.
        """
        self._power_off()
        self.up()

    def power_cycle(self) -> None:
        """Power the target off and on again on purpose (spec §7.7 persistence tests).

        Launched targets are restarted; boards are reset through their probe. Open TAP
        channels are closed: the client reconnects on its next call.
        """
        recovery = self.recovery()
        if recovery is None:
            raise TargetUnavailable(
                f"{self.description.name} can be neither restarted nor reset by the harness: "
                "give it a [launch] section or a [probe]"
            )
        recovery()

    def __enter__(self) -> TargetRunner:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()
