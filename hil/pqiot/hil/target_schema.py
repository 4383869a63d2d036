"""Target descriptions (``targets/*.toml``): what a device under test *is*, validated.

In labgrid's terms this is the *resource* layer: it names the things that exist
(an image, a serial link, a probe, a memory map) and what the device claims
(its conformance statement); :mod:`pqiot.hil.runner` is the strategy that
brings it to a state. Validation collects every problem at once and names the
file, the key and what is wrong, because a description is edited by hand.
The schema is documented in ``targets/README.md``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pqiot.hil.conformance import ConformanceStatement, statement_problems

__all__ = [
    "KINDS",
    "SCHEMA_VERSION",
    "TRANSPORT_SCHEMES",
    "Clock",
    "Firmware",
    "Launch",
    "MemoryRegion",
    "Probe",
    "TargetDescription",
    "TargetError",
    "Timeouts",
    "load_description",
    "parse_description",
]

SCHEMA_VERSION = 1
KINDS = ("host", "qemu", "board")
#: TAP transports (§13.1): length-prefixed TCP, or serial framing on a byte stream.
TRANSPORT_SCHEMES = ("tcp", "serial+tcp", "serial+stdio", "serial", "rfc2217")
PROBE_KINDS = ("gdb", "pyocd")
MEMORY_KINDS = ("flash", "ram")
PLACEHOLDERS = (
    "image",
    "port",
    "gdb_port",
    "repo",
    "python",
    "workdir",
    "labgrid_host",
    "labgrid_port",
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class TargetError(ValueError):
    """A target description is invalid or cannot be found; the message lists every problem."""


@dataclass(frozen=True)
class Firmware:
    image: str | None = None
    build: str | None = None


@dataclass(frozen=True)
class Launch:
    """How the harness starts a host or emulated target (placeholders: see README)."""

    command: tuple[str, ...]
    ready: str | None = None
    probe_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Probe:
    kind: str
    address: str | None = None
    uid: str | None = None
    target_type: str | None = None


@dataclass(frozen=True)
class Clock:
    hz: int
    cycle_counter: str
    flash_wait_states: int | None = None
    cache: str | None = None
    notes: str = ""


@dataclass(frozen=True)
class MemoryRegion:
    name: str
    kind: str
    start: int
    size: int


@dataclass(frozen=True)
class Timeouts:
    boot: float = 10.0
    command: float = 10.0
    accumulated: float = 600.0
    reset: float = 10.0


@dataclass(frozen=True)
class TargetDescription:
    name: str
    kind: str
    transport: str
    conformance: ConformanceStatement
    source: Path | None = None
    description: str = ""
    firmware: Firmware = field(default_factory=Firmware)
    launch: Launch | None = None
    probe: Probe | None = None
    clock: Clock | None = None
    memory: tuple[MemoryRegion, ...] = ()
    timeouts: Timeouts = field(default_factory=Timeouts)
    verified_on_hardware: bool | None = None
    labgrid_place: str | None = None
    labgrid_coordinator: str | None = None
    #: Vendor declarations file (spec §14.5.1) used by `pqiot certify` unless overridden.
    declarations: Path | None = None

    @property
    def scheme(self) -> str:
        return self.transport.split("://", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "source": str(self.source) if self.source else None,
            "transport": self.transport,
            "firmware": {"image": self.firmware.image, "build": self.firmware.build},
            "probe": None if self.probe is None else vars(self.probe),
            "clock": None if self.clock is None else vars(self.clock),
            "memory": [vars(region) for region in self.memory],
            "timeouts": vars(self.timeouts),
            "conformance": self.conformance.to_json(),
            "verified_on_hardware": self.verified_on_hardware,
            "labgrid_place": self.labgrid_place,
            "labgrid_coordinator": self.labgrid_coordinator,
            "declarations": str(self.declarations) if self.declarations else None,
        }


class _Reader:
    """Typed reads from one table that record problems instead of raising at the first."""

    def __init__(self, where: str, table: dict[str, Any], problems: list[str], path: str) -> None:
        self.where, self.table, self.problems, self.path = where, table, problems, path

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, what: str) -> None:
        self.problems.append(f"{self.path}: {self._key(key)}: {what}")

    def get(self, key: str, types: type | tuple[type, ...], *, required: bool = False) -> Any:
        if key not in self.table:
            if required:
                self.fail(key, "is required")
            return None
        value = self.table[key]
        if isinstance(value, bool) and bool not in (
            types if isinstance(types, tuple) else (types,)
        ):
            self.fail(key, f"must be {_type_names(types)}, not a boolean")
            return None
        if not isinstance(value, types):
            self.fail(key, f"must be {_type_names(types)}, not {type(value).__name__} {value!r}")
            return None
        return value

    def choice(self, key: str, allowed: tuple[str, ...], *, required: bool = False) -> Any:
        value = self.get(key, str, required=required)
        if value is not None and value not in allowed:
            self.fail(key, f"must be one of {', '.join(allowed)}, not {value!r}")
            return None
        return value

    def list_of(self, key: str, item: type) -> tuple[Any, ...]:
        value = self.get(key, list)
        if value is None:
            return ()
        bad = [v for v in value if not isinstance(v, item) or isinstance(v, bool)]
        if bad:
            self.fail(key, f"must be a list of {_type_names(item)}; bad items {bad!r}")
            return ()
        return tuple(value)

    def table_(self, key: str, *, required: bool = False) -> _Reader | None:
        value = self.get(key, dict, required=required)
        return None if value is None else _Reader(self._key(key), value, self.problems, self.path)

    def unknown(self, known: tuple[str, ...]) -> None:
        for key in self.table:
            if key not in known:
                self.fail(key, f"unknown key (known here: {', '.join(known)})")


def _type_names(types: type | tuple[type, ...]) -> str:
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }
    seq = types if isinstance(types, tuple) else (types,)
    return " or ".join(names.get(t, t.__name__) for t in seq)


def _check_placeholders(reader: _Reader, key: str, values: tuple[str, ...]) -> None:
    for value in values:
        for name in _PLACEHOLDER.findall(value):
            if name not in PLACEHOLDERS:
                reader.fail(
                    key, f"unknown placeholder {{{name}}} (known: {', '.join(PLACEHOLDERS)})"
                )


def parse_description(data: dict[str, Any], path: str = "<memory>") -> TargetDescription:
    """Validate one parsed TOML document; raise :class:`TargetError` listing every problem."""
    problems: list[str] = []
    top = _Reader("", data, problems, path)
    top.unknown(
        (
            "schema",
            "name",
            "kind",
            "description",
            "verified_on_hardware",
            "firmware",
            "transport",
            "launch",
            "probe",
            "clock",
            "memory",
            "conformance",
            "timeouts",
            "labgrid",
            "declarations",
        )
    )
    schema = top.get("schema", int, required=True)
    if schema is not None and schema != SCHEMA_VERSION:
        top.fail("schema", f"version {schema} is not supported; this pqiot reads {SCHEMA_VERSION}")
    name = top.get("name", str, required=True)
    if name is not None and not _NAME.match(name):
        top.fail("name", f"{name!r} must be lower-case letters, digits and '-', 1..63 characters")
    stem = Path(path).stem
    if name is not None and path != "<memory>" and stem != name:
        top.fail("name", f"{name!r} must match the file name ({stem}.toml)")
    kind = top.choice("kind", KINDS, required=True)
    verified = top.get("verified_on_hardware", bool)
    if kind == "board" and verified is None:
        top.fail(
            "verified_on_hardware",
            "is required for kind = 'board' (true only after a run on the real board)",
        )

    firmware = Firmware()
    fw = top.table_("firmware")
    if fw is not None:
        fw.unknown(("image", "build"))
        firmware = Firmware(fw.get("image", str), fw.get("build", str))

    transport = ""
    tr = top.table_("transport", required=True)
    if tr is not None:
        tr.unknown(("url",))
        url = tr.get("url", str, required=True)
        if url is not None:
            scheme = url.split("://", 1)[0] if "://" in url else ""
            if scheme not in TRANSPORT_SCHEMES:
                tr.fail(
                    "url",
                    f"{url!r}: scheme must be one of "
                    f"{', '.join(s + '://' for s in TRANSPORT_SCHEMES)}",
                )
            _check_placeholders(tr, "url", (url,))
            transport = url

    launch = None
    la = top.table_("launch")
    if la is not None:
        la.unknown(("command", "ready", "probe_args"))
        command = la.list_of("command", str)
        if not command:
            la.fail("command", "must be a non-empty list of strings (argv)")
        probe_args = la.list_of("probe_args", str)
        _check_placeholders(la, "command", command)
        _check_placeholders(la, "probe_args", probe_args)
        ready = la.get("ready", str)
        if ready is not None:
            try:
                re.compile(ready)
            except re.error as exc:
                la.fail("ready", f"is not a regular expression: {exc}")
        launch = Launch(command, ready, probe_args)
    remote = isinstance(data.get("labgrid"), dict)
    if kind in ("host", "qemu") and launch is None and not remote:
        top.fail(
            "launch",
            f"is required for kind = {kind!r} (the harness starts the target) "
            "unless a [labgrid] place provides it",
        )
    if (
        kind in ("host", "qemu")
        and firmware.image is None
        and launch is not None
        and any("{image}" in part for part in launch.command)
    ):
        top.fail("firmware.image", "is required: launch.command uses {image}")

    probe = None
    pr = top.table_("probe")
    if pr is not None:
        pr.unknown(("kind", "address", "uid", "target_type"))
        pkind = pr.choice("kind", PROBE_KINDS, required=True)
        probe = Probe(
            pkind or "", pr.get("address", str), pr.get("uid", str), pr.get("target_type", str)
        )
        if pkind == "gdb" and probe.address is None:
            pr.fail("address", "is required for a gdb probe (HOST:PORT of the GDB server)")
        if pkind == "pyocd" and probe.target_type is None:
            pr.fail(
                "target_type",
                "is required for a pyocd probe (e.g. stm32l4r5zitx; see `pyocd list --targets`)",
            )

    clock = None
    cl = top.table_("clock")
    if cl is not None:
        cl.unknown(("hz", "cycle_counter", "flash_wait_states", "cache", "notes"))
        hz = cl.get("hz", int, required=True)
        counter = cl.choice(
            "cycle_counter", ("dwt", "systick", "qemu-icount", "host-ns", "none"), required=True
        )
        clock = Clock(
            hz or 0,
            counter or "none",
            cl.get("flash_wait_states", int),
            cl.get("cache", str),
            cl.get("notes", str) or "",
        )
        if counter == "qemu-icount" and kind != "qemu":
            cl.fail("cycle_counter", "qemu-icount is only meaningful for kind = 'qemu'")
    if kind == "board" and clock is None:
        top.fail(
            "clock", "is required for kind = 'board' (figures are meaningless without the clock)"
        )

    memory: list[MemoryRegion] = []
    regions = top.get("memory", list)
    for index, item in enumerate(regions or []):
        if not isinstance(item, dict):
            top.fail(f"memory[{index}]", "must be a table ([[memory]])")
            continue
        mr = _Reader(f"memory[{index}]", item, problems, path)
        mr.unknown(("name", "kind", "start", "size"))
        rname, rkind = (
            mr.get("name", str, required=True),
            mr.choice("kind", MEMORY_KINDS, required=True),
        )
        start, size = mr.get("start", int, required=True), mr.get("size", int, required=True)
        if size is not None and size <= 0:
            mr.fail("size", "must be positive")
        if None not in (rname, rkind, start, size):
            memory.append(MemoryRegion(rname, rkind, start, size))
    for a, b in ((a, b) for i, a in enumerate(memory) for b in memory[i + 1 :]):
        if a.start < b.start + b.size and b.start < a.start + a.size:
            top.fail("memory", f"regions {a.name!r} and {b.name!r} overlap")

    conformance = ConformanceStatement()
    co = top.table_("conformance", required=True)
    if co is not None:
        co.unknown(("suites", "methods", "roles", "bindings", "features", "commands", "primitives"))
        conformance = ConformanceStatement(
            co.list_of("suites", int),
            co.list_of("methods", int),
            co.list_of("roles", str),
            co.list_of("bindings", str),
            co.list_of("features", str),
            co.list_of("commands", int),
            co.list_of("primitives", str),
        )
        problems.extend(f"{path}: conformance: {p}" for p in statement_problems(conformance))

    timeouts = Timeouts()
    to = top.table_("timeouts")
    if to is not None:
        to.unknown(("boot", "command", "accumulated", "reset"))
        values: dict[str, float] = {}
        for key in ("boot", "command", "accumulated", "reset"):
            value = to.get(key, (int, float))
            if value is not None and value <= 0:
                to.fail(key, "must be a positive number of seconds")
            elif value is not None:
                values[key] = float(value)
        timeouts = Timeouts(**values)

    place = coordinator = None
    lg = top.table_("labgrid")
    if lg is not None:
        lg.unknown(("place", "coordinator"))
        place = lg.get("place", str, required=True)
        coordinator = lg.get("coordinator", str)
    if place is None and "{labgrid_" in transport:
        top.fail("transport.url", "uses {labgrid_host}/{labgrid_port} but [labgrid] names no place")

    declarations = _declarations_path(top, path)

    if problems:
        raise TargetError("invalid target description:\n  " + "\n  ".join(problems))
    assert name is not None and kind is not None
    return TargetDescription(
        name=name,
        kind=kind,
        transport=transport,
        conformance=conformance,
        source=None if path == "<memory>" else Path(path),
        description=top.get("description", str) or "",
        firmware=firmware,
        launch=launch,
        probe=probe,
        clock=clock,
        memory=tuple(memory),
        timeouts=timeouts,
        verified_on_hardware=verified,
        labgrid_place=place,
        labgrid_coordinator=coordinator,
        declarations=declarations,
    )


def _declarations_path(top: _Reader, path: str) -> Path | None:
    """``declarations`` is relative to the target file: a farm folder stays self-contained."""
    value = top.get("declarations", str)
    if value is None:
        return None
    resolved = Path(value) if path == "<memory>" else Path(path).parent / value
    if path != "<memory>" and not resolved.is_file():
        top.fail("declarations", f"{resolved} does not exist (spec §14.5.1 declarations file)")
    return resolved


def load_description(path: Path) -> TargetDescription:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TargetError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TargetError(
            f"{path}: not UTF-8 (byte {exc.start}); target files are UTF-8 TOML"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path}: not valid TOML: {exc}") from None
    return parse_description(data, str(path))
