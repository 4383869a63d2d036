"""``pqiot fuzz``: list the parser fuzz harnesses, run one under Atheris, reproduce a crash.

Live-device fuzzing (``pqiot fuzz target``) needs the HIL harness and is not
offered until it exists.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pqiot.cli.errors import CliError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("fuzz", help="fuzz the protocol parsers (Atheris/libFuzzer)")
    commands = parser.add_subparsers(dest="fuzz_command", metavar="SUBCOMMAND", required=True)

    listing = commands.add_parser("list", help="print the harness names, one per line")
    listing.set_defaults(handler=run_list)

    runner = commands.add_parser(
        "run",
        help="fuzz one harness in a subprocess; crashes go to reports/fuzz/NAME/",
    )
    runner.add_argument("name", metavar="NAME", help="harness name (see `pqiot fuzz list`)")
    budget = runner.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, help="stop after S seconds (default 60)")
    budget.add_argument("--runs", type=int, help="stop after N inputs")
    runner.add_argument(
        "--corpus",
        type=Path,
        help="corpus directory to read and grow (default reports/fuzz/NAME/corpus)",
    )
    runner.add_argument(
        "--reports", type=Path, default=None, help="report folder (default reports/fuzz)"
    )
    runner.set_defaults(handler=run_fuzz)

    repro = commands.add_parser(
        "reproduce", help="run one saved input through a harness, without Atheris"
    )
    repro.add_argument("name", metavar="NAME")
    repro.add_argument("input", metavar="FILE", type=Path)
    repro.set_defaults(handler=run_reproduce)


def _harness_name(name: str) -> str:
    from pqiot.fuzz.harnesses import names

    if name not in names():
        raise CliError(
            f"no fuzz harness named {name!r}; choose one of: {', '.join(names())}", exit_code=2
        )
    return name


def run_list(args: argparse.Namespace) -> int:
    from pqiot.fuzz.harnesses import names

    for name in names():
        print(name)
    return 0


def run_fuzz(args: argparse.Namespace) -> int:
    from pqiot.fuzz import runner

    name = _harness_name(args.name)
    try:
        import atheris  # noqa: F401
    except ImportError:
        raise CliError(
            "atheris is not installed; run: .venv/bin/pip install atheris (Python 3.11+, Linux)"
        ) from None
    if args.seconds is not None and args.seconds <= 0:
        raise CliError("--seconds must be positive")
    if args.runs is not None and args.runs <= 0:
        raise CliError("--runs must be positive")
    reports = args.reports if args.reports is not None else runner.DEFAULT_REPORTS
    result = runner.run(
        name, seconds=args.seconds, runs=args.runs, corpus=args.corpus, reports=reports
    )

    def shown(value: int | None) -> str:
        return "?" if value is None else str(value)

    print(
        f"{name}: {shown(result.runs)} runs in {result.seconds:.1f} s, "
        f"{shown(result.execs_per_sec)} execs/s, coverage {shown(result.coverage)} edges, "
        f"{shown(result.features)} features"
    )
    print(f"log: {result.log}")
    for artifact in result.artifacts:
        print(f"found {artifact.name.split('-')[0]}: {artifact}")
        print(f"  reproduce: {runner.reproduce_command(name, artifact)}")
    if result.found_crash:
        return 1
    if result.returncode != 0:
        raise CliError(f"the fuzzer exited with status {result.returncode}; see {result.log}")
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    from pqiot.fuzz import runner

    name = _harness_name(args.name)
    try:
        data = args.input.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.input}: {exc.strerror}") from exc
    failure = runner.reproduce(name, data)
    if failure is None:
        print(f"{name}: {args.input} ({len(data)} bytes) passes the harness contract")
        return 0
    print(failure, end="")
    print(f"{name}: {args.input} ({len(data)} bytes) breaks the harness contract")
    return 1
