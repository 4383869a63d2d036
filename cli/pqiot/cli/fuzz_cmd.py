"""``pqiot fuzz``: list the parser fuzz harnesses, run one under Atheris, reproduce a crash,
and fuzz a live device through the HIL harness (``pqiot fuzz target``).
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

    live = commands.add_parser(
        "target",
        help="fuzz a device (targets/*.toml) through its TAP link; findings go to "
        "reports/fuzz/target-NAME/",
    )
    live.add_argument("--target", required=True, metavar="NAME", help="target name")
    live_budget = live.add_mutually_exclusive_group()
    live_budget.add_argument("--frames", type=int, metavar="N", help="stop after N inputs")
    live_budget.add_argument(
        "--seconds", type=float, metavar="S", help="stop after S seconds (default 60)"
    )
    live_budget.add_argument(
        "--reproduce", type=Path, metavar="FILE", help="replay a saved finding on a fresh device"
    )
    live.add_argument("--seed", type=int, default=0, metavar="N", help="campaign seed (default 0)")
    live.add_argument(
        "--sanity-every",
        type=int,
        default=50,
        metavar="K",
        help="full handshake with the reference every K inputs (default 50; 0: never)",
    )
    live.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="report folder (default reports/fuzz)"
    )
    live.add_argument(
        "--hang-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds without a TAP answer that make a hang (default: the target's command "
        "timeout)",
    )
    live.add_argument(
        "--no-build", action="store_true", help="fail instead of building a missing firmware image"
    )
    live.set_defaults(handler=run_target)


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


def _live_target(name: str, build: bool) -> Any:
    """The target description; its firmware image is built first when it is missing."""
    import shlex
    import subprocess

    from pqiot.hil.runner import TargetRunner
    from pqiot.hil.target_schema import TargetError
    from pqiot.hil.targets import target

    try:
        description = target(name)
    except KeyError as exc:
        raise CliError(str(exc.args[0]), exit_code=2) from None
    except TargetError as exc:
        raise CliError(str(exc)) from None
    image = TargetRunner(description).image_path()
    if image is None or image.exists():
        return description
    recipe = description.firmware.build
    if not build or not recipe or not recipe.startswith("make "):
        raise CliError(
            f"{name}: firmware image {image} does not exist; build it with "
            f"`{recipe or 'the firmware build'}`"
        )
    from pqiot.hil.runner import repo_root

    print(f"{name}: {image} is missing; building it with `{recipe}` (once, a few minutes)")
    completed = subprocess.run(shlex.split(recipe), cwd=repo_root(), check=False)
    if completed.returncode != 0 or not image.exists():
        raise CliError(f"`{recipe}` failed (exit {completed.returncode}); see its output above")
    return description


def run_target(args: argparse.Namespace) -> int:
    from pqiot.fuzz.live import campaign
    from pqiot.fuzz.live.device import SetupFailed
    from pqiot.fuzz.live.inputs import load_finding
    from pqiot.hil.runner import TargetUnavailable

    if args.frames is not None and args.frames <= 0:
        raise CliError("--frames must be positive")
    if args.seconds is not None and args.seconds <= 0:
        raise CliError("--seconds must be positive")
    if args.sanity_every < 0:
        raise CliError("--sanity-every must be 0 (never) or positive")
    description = _live_target(args.target, build=not args.no_build)
    if args.reproduce is not None:
        try:
            finding = load_finding(args.reproduce)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        try:
            failure = campaign.reproduce(description, finding, args.hang_timeout)
        except (TargetUnavailable, SetupFailed, ValueError) as exc:
            raise CliError(f"{args.target}: {exc}") from None
        shown = ", ".join(f"{i.kind} ({len(i.data)} bytes)" for i in finding.inputs)
        if failure is None:
            print(f"{args.target}: {args.reproduce} [{shown}] no longer fails")
            return 0
        if failure.evidence:
            print(failure.evidence.rstrip())
        print(f"{args.target}: {args.reproduce} [{shown}] reproduces: {failure}")
        return 1
    options = campaign.Options(
        frames=args.frames,
        seconds=args.seconds,
        seed=args.seed,
        sanity_every=args.sanity_every,
        out=args.out if args.out is not None else Path("reports") / "fuzz",
        hang_timeout=args.hang_timeout,
    )
    try:
        result = campaign.run_campaign(description, options)
    except (TargetUnavailable, SetupFailed) as exc:
        raise CliError(f"{args.target}: {exc}") from None
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(result.per_kind.items()))
    print(
        f"{args.target}: {result.sent} inputs in {result.seconds:.1f} s "
        f"({result.inputs_per_second:.1f} inputs/s; {kinds}), "
        f"{result.sanity_runs} sanity handshakes, {len(result.findings)} findings"
    )
    for finding, path in result.findings:
        reproduced = {True: "reproduced", False: "NOT reproduced", None: "not replayed"}[
            finding.reproduced
        ]
        print(f"found {finding.kind} ({reproduced} on a fresh instance): {finding.detail}")
        print(f"  saved: {path}")
        print(f"  reproduce: {campaign.reproduce_command(args.target, path)}")
    return 1 if result.findings else 0
