"""``pqiot targets``: list the HIL target descriptions, and check that one is healthy.

``check`` brings the target up (launching the host build or QEMU, or opening
the board's serial port), prints the agent's identity, its conformance
statement and the image's footprint, and exits 0 only if every health check
passed (spec §13.4, §14.1).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pqiot.cli.errors import CliError

#: Exit status of ``check`` when the target came up but is not healthy.
EXIT_UNHEALTHY = 1
#: Exit status when the target could not be brought up at all.
EXIT_UNAVAILABLE = 3
COLUMNS = ("name", "kind", "transport", "probe", "hardware", "description")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("targets", help="HIL targets: list descriptions, check health")
    commands = parser.add_subparsers(dest="targets_command", metavar="ACTION")
    list_parser = commands.add_parser("list", help="list the target descriptions (targets/*.toml)")
    list_parser.add_argument("--json", action="store_true", help="print the descriptions as JSON")
    list_parser.set_defaults(handler=run_list)
    check = commands.add_parser("check", help="bring a target up and check its health")
    check.add_argument("name", metavar="NAME", help="target name (see `pqiot targets list`)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--strict",
        action="store_true",
        help="also fail when the agent's conformance statement is inconsistent (REQ-CONF-003)",
    )
    check.add_argument(
        "--probe",
        action="store_true",
        help="also use the debug probe (QEMU: gdbstub, stack high-water mark)",
    )
    check.set_defaults(handler=run_check)
    measure = commands.add_parser(
        "measure", help="per-operation cycles (or proxy) and stack, with clock and footprint"
    )
    measure.add_argument("name", metavar="NAME", help="target name")
    measure.add_argument("--repeats", type=int, default=3, metavar="N", help="runs per operation")
    measure.add_argument("--json", action="store_true", help="print the report as JSON")
    measure.set_defaults(handler=run_measure)
    farm = commands.add_parser(
        "run", help="run one job on several targets in parallel (board farm)"
    )
    farm.add_argument("job", metavar="JOB", help="identify, accumulated, or module:function")
    farm.add_argument("names", metavar="NAME", nargs="+", help="targets to run on")
    farm.add_argument(
        "--retries", type=int, default=1, metavar="N", help="retries per target (default 1)"
    )
    farm.add_argument(
        "--quarantine",
        metavar="FILE",
        default="reports/hil/quarantine.json",
        help="quarantine file: targets listed there are skipped (default %(default)s)",
    )
    farm.add_argument("--json", action="store_true", help="print the results as JSON")
    farm.set_defaults(handler=run_farm)
    parser.set_defaults(handler=lambda _args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _load() -> dict[str, Any]:
    from pqiot.hil.target_schema import TargetError
    from pqiot.hil.targets import load_targets

    try:
        return load_targets()
    except TargetError as exc:
        raise CliError(
            f"{exc}\nfix the file(s) above; the schema is in targets/README.md"
        ) from None


def _probe_text(description: Any) -> str:
    probe = description.probe
    if probe is None:
        return "-"
    if probe.kind == "gdb":
        return f"gdb {probe.address}"
    return f"pyocd {probe.target_type}" + (f" {probe.uid}" if probe.uid else "")


def run_list(args: argparse.Namespace) -> int:
    targets = _load()
    if args.json:
        print(json.dumps([d.to_json() for d in targets.values()], indent=2))
        return 0
    rows = []
    for d in targets.values():
        hardware = {None: "-", True: "verified", False: "not yet run"}[d.verified_on_hardware]
        rows.append([d.name, d.kind, d.transport, _probe_text(d), hardware, d.description])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS[:-1])]
    print(
        "  ".join(c.upper().ljust(widths[i]) for i, c in enumerate(COLUMNS[:-1])) + "  DESCRIPTION"
    )
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1])
    return 0


def run_check(args: argparse.Namespace) -> int:
    from pqiot.hil.check import check_target
    from pqiot.hil.runner import TargetUnavailable

    targets = _load()
    if args.name not in targets:
        raise CliError(f"no target named {args.name!r}; known: {', '.join(sorted(targets))}", 2)
    try:
        report = check_target(targets[args.name], use_probe=args.probe)
    except TargetUnavailable as exc:
        if args.json:
            print(
                json.dumps(
                    {"target": args.name, "healthy": False, "unavailable": str(exc)}, indent=2
                )
            )
        raise CliError(str(exc), EXIT_UNAVAILABLE) from None
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    if not report["healthy"]:
        return EXIT_UNHEALTHY
    return EXIT_UNHEALTHY if args.strict and report["statement_problems"] else 0


def _print_report(report: dict[str, Any]) -> None:
    identity = report["identity"]
    print(
        f"target {report['target']}: {'HEALTHY' if report['healthy'] else 'NOT HEALTHY'} "
        f"(up {report['up_s']:.2f} s, checks {report['elapsed_s']:.2f} s)"
    )
    print(
        f"  agent: {identity.get('vendor')} / {identity.get('product')}, "
        f"firmware {identity.get('firmware')}, "
        f"TAP {identity.get('tap')}, spec {identity.get('spec')}"
    )
    statement = report["conformance"]
    for key in ("suites", "methods", "roles", "bindings", "features", "commands", "primitives"):
        print(f"  {key:11} {', '.join(str(v) for v in statement.get(key, [])) or '-'}")
    measure = identity.get("measure", {})
    print(
        f"  measure:    counter {measure.get('cycles')} ({report['measure_unit']}), "
        f"stack {measure.get('stack')}, "
        f"clock {measure.get('clock_hz')} Hz"
    )
    footprint = report.get("footprint")
    if footprint:
        print(
            f"  footprint:  flash {footprint['flash_bytes']} B, RAM {footprint['ram_bytes']} B "
            f"({footprint['image']})"
        )
    if report.get("stack_high_water_bytes") is not None:
        print(f"  stack high-water (probe): {report['stack_high_water_bytes']} B")
    for note in report["notes"]:
        print(f"  note: {note}")
    for problem in report["statement_problems"]:
        print(f"  conformance statement (REQ-CONF-003): {problem}")
    for problem in report["problems"]:
        print(f"  PROBLEM: {problem}")


def run_farm(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pqiot.hil import farm

    targets = _load()
    unknown = [name for name in args.names if name not in targets]
    if unknown:
        raise CliError(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(targets)}", 2)
    if args.retries < 0:
        raise CliError("--retries must be 0 or more", 2)
    try:
        results = farm.run_farm(
            args.names, args.job, retries=args.retries, quarantine=Path(args.quarantine)
        )
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        for r in results:
            print(
                f"{r.verdict.value.upper():8} {r.target:16} {r.detail} ({r.attempts} attempt(s), "
                f"{r.seconds:.1f} s)"
            )
            if r.quarantined:
                print(f"         quarantined in {args.quarantine}: {r.quarantined}")
    return 0 if all(r.verdict.value == "pass" for r in results) else 1


def run_measure(args: argparse.Namespace) -> int:
    from pqiot.hil.measure import measure_target
    from pqiot.hil.runner import TargetRunner, TargetUnavailable

    targets = _load()
    if args.name not in targets:
        raise CliError(f"no target named {args.name!r}; known: {', '.join(sorted(targets))}", 2)
    if args.repeats < 1:
        raise CliError("--repeats must be at least 1", 2)
    runner = TargetRunner(targets[args.name])
    try:
        runner.up()
    except TargetUnavailable as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE) from None
    client = runner.client()
    try:
        report = measure_target(runner, client, repeats=args.repeats)
    finally:
        client.close()
        runner.down()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    clock = report["clock"] or {}
    print(f"target {report['target']} (firmware {report['firmware']}), unit: {report['unit']}")
    print(
        f"  clock {clock.get('hz')} Hz, counter {clock.get('cycle_counter')}, "
        f"wait states {clock.get('flash_wait_states')}, cache {clock.get('cache')}"
    )
    for op in report["operations"]:
        print(
            f"  {op['operation']:22} min {op['min']:>10} median {op['median']:>10} "
            f"max {op['max']:>10} {op['unit']}  stack {op['stack_bytes']}"
        )
    for skipped in report["skipped"]:
        print(f"  skipped: {skipped}")
    footprint = report.get("footprint")
    if footprint:
        print(
            f"  footprint: text {footprint['text']} data {footprint['data']} "
            f"bss {footprint['bss']} "
            f"(flash {footprint['flash_bytes']}, RAM {footprint['ram_bytes']})"
        )
    return 0
