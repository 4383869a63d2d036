"""``pqiot bench --target NAME``: per-operation figures of a target, with baseline comparison.

Writes ``bench-TARGET.json`` (schema ``docs/bench-schema.md``) and ``bench-TARGET.html``
to ``--out``; exits 3 when a metric regressed past ``--max-regression`` against
``--baseline`` (and names it), 1 when the target cannot be brought up.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pqiot.cli.errors import CliError

#: Exit status when a metric regressed past the threshold.
EXIT_REGRESSION = 3


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark a target: cycles / instruction proxy / wall clock, stack, flash",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--target", required=True, help="target name (see `pqiot targets list`)")
    parser.add_argument(
        "--suite",
        type=int,
        action="append",
        default=[],
        metavar="S",
        help="cipher suite to run handshakes for (repeatable); limits primitives to its own. "
        "Default: every ML-DSA suite the target declares",
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="measured repetitions per operation (default 5)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="discarded runs before measuring (default 1)"
    )
    parser.add_argument(
        "--sign-messages",
        type=int,
        default=64,
        help="ML-DSA signing message set size (default 64; the distribution is the point)",
    )
    parser.add_argument(
        "--spread-threshold",
        type=float,
        default=None,
        help="flag a figure when (max-min)/median exceeds this (default 0.25)",
    )
    parser.add_argument("--no-handshakes", action="store_true", help="primitives only")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"), help="output folder")
    parser.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    parser.add_argument("--baseline", type=Path, help="earlier report (JSON) to compare with")
    parser.add_argument(
        "--max-regression",
        type=float,
        default=10.0,
        metavar="PCT",
        help="allowed increase of a median against the baseline, in percent (default 10)",
    )
    parser.add_argument(
        "--ignore-unit",
        action="append",
        default=[],
        metavar="UNIT",
        help="compare metrics of this unit (e.g. wall_clock_ns) but never fail on them",
    )
    parser.set_defaults(handler=run)


def _load_baseline(path: Path) -> dict[str, Any]:
    from pqiot.bench.report import validate

    try:
        baseline: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the baseline {path}: {exc}") from None
    problems = validate(baseline)
    if problems:
        raise CliError(f"{path} is not a pqiot bench report: {'; '.join(problems[:5])}")
    return baseline


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from pqiot.bench.run import BenchOptions, run_bench
    from pqiot.bench.stats import DEFAULT_SPREAD_THRESHOLD
    from pqiot.hil.runner import TargetRunner, TargetUnavailable
    from pqiot.hil.target_schema import TargetError
    from pqiot.hil.targets import target
    from pqiot.hil.verdict import Blocked

    if args.runs < 1 or args.warmup < 0 or args.sign_messages < 1:
        raise CliError("--runs and --sign-messages must be at least 1, --warmup at least 0")
    try:
        description = target(args.target)
    except (KeyError, TargetError) as exc:
        raise CliError(str(exc).strip("'\"")) from None
    options = BenchOptions(
        suites=tuple(args.suite),
        runs=args.runs,
        warmup=args.warmup,
        sign_messages=args.sign_messages,
        spread_threshold=args.spread_threshold or DEFAULT_SPREAD_THRESHOLD,
        handshakes=not args.no_handshakes,
    )
    runner = TargetRunner(description)
    try:
        runner.up()
    except TargetUnavailable as exc:
        raise CliError(f"target {args.target} is not usable, no figures measured: {exc}") from None
    try:
        return run_bench(runner, options)
    except Blocked as exc:
        raise CliError(
            f"target {args.target} stopped answering, no report written: {exc}"
        ) from None
    finally:
        runner.down()


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _summary(report: dict[str, Any]) -> str:
    lines = [
        f"{report['target']}: {report['unit']} ({report['compiler']}, {report['git_revision']})"
    ]
    for m in report["metrics"]:
        if m["group"] in ("handshake-step", "handshake-e2e", "record"):
            continue
        s = m["statistics"]
        ref = m["reference"]
        extra = ""
        if ref:
            extra = f"  ref {ref['value']:,.0f} x{ref['ratio']}" + (
                "" if ref["comparable"] else " (not 1:1)"
            )
        stack = f"  stack {m['stack_bytes']:,}" if m["stack_bytes"] is not None else ""
        flags = f"  [{', '.join(m['flags'])}]" if m["flags"] else ""
        lines.append(
            f"  {m['name']:<44} {_num(s['median']):>14} {m['unit']:<17} "
            f"min {_num(s['min'])} max {_num(s['max'])}{stack}{extra}{flags}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from pqiot.bench.baseline import compare
    from pqiot.bench.html import render_html
    from pqiot.bench.report import validate

    baseline = _load_baseline(args.baseline) if args.baseline else None
    report = _measure(args)
    problems = validate(report)
    if problems:  # a bug here, not a measurement result
        raise CliError("the report does not follow docs/bench-schema.md: " + "; ".join(problems))
    comparisons = None
    regressions: list[str] = []
    if baseline is not None:
        found, notes = compare(report, baseline, args.max_regression, frozenset(args.ignore_unit))
        comparisons = [c.to_json() for c in found]
        report["baseline"] = {
            "file": str(args.baseline),
            "git_revision": baseline.get("git_revision"),
            "max_regression_pct": args.max_regression,
            "ignored_units": list(args.ignore_unit),
            "comparisons": comparisons,
            "notes": notes,
        }
        regressions = [
            f"{c.name}: {_num(c.baseline)} -> {_num(c.current)} {c.unit} ({c.change_pct:+.1f} %)"
            for c in found
            if c.regressed
        ]
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"bench-{report['target']}.json"
    html_path = args.out / f"bench-{report['target']}.html"
    json_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report, comparisons), encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(_summary(report))
        print(f"wrote {json_path} and {html_path}")
    if baseline is not None:
        for note in report["baseline"]["notes"]:
            print(f"note: {note}", file=sys.stderr)
    if regressions:
        print(f"REGRESSION past {args.max_regression} % against {args.baseline}:", file=sys.stderr)
        for line in regressions:
            print(f"  {line}", file=sys.stderr)
        return EXIT_REGRESSION
    return 0
