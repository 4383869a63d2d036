"""``pqiot certify``: run the conformance suite against a target and write a signed report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pqiot.cli.errors import CliError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "certify",
        help="run the conformance suite on a target; report + signed evidence bundle",
        description=(
            "Run every conformance test that applies to the target's conformance statement "
            "and write report.json, junit.xml, report.html, per-test logs and a signed "
            "manifest to --out. Exit status 0 only when every applicable test-verified MUST "
            "passes and every declaration-verified one (spec §14.5) is covered by a vendor "
            "declaration, which a certifier must then review."
        ),
    )
    parser.add_argument("--target", required=True, help="target name (see `pqiot targets`)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run in --out"
    )
    parser.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")
    parser.add_argument(
        "--deviations", type=Path, default=None, help="vendor deviations file (TOML or YAML)"
    )
    declared = parser.add_mutually_exclusive_group()
    declared.add_argument(
        "--declarations",
        type=Path,
        default=None,
        help="vendor declarations file (TOML, spec §14.5.1) for requirements no test can "
        "observe (default: the one the target file names, if any)",
    )
    declared.add_argument(
        "--no-declarations",
        action="store_true",
        help="ignore the declarations file named by the target file",
    )
    parser.add_argument(
        "--signing-key",
        type=Path,
        default=None,
        help="ML-DSA-65 .key file from `pqiot keys generate --alg ML-DSA-65` "
        "(default: an ephemeral key, marked as such)",
    )
    parser.add_argument(
        "--transport",
        choices=("auto", "in-process", "tap"),
        default="auto",
        help="auto: host-ref in process, other targets through the HIL harness",
    )
    parser.add_argument(
        "--measure",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the tests, measure footprint, primitives and handshakes into the report "
        "(default: on, except when -k selects a subset)",
    )
    parser.set_defaults(handler=run)


def _declarations_file(args: argparse.Namespace) -> Path | None:
    """--declarations, else the file the target description names (targets/README.md)."""
    if args.declarations is not None or args.no_declarations:
        return args.declarations  # type: ignore[no-any-return]
    from pqiot.hil.target_schema import TargetError
    from pqiot.hil.targets import target

    try:
        return target(args.target).declarations
    except (KeyError, TargetError):
        return None  # certify itself reports the unknown or invalid target


def run(args: argparse.Namespace) -> int:
    from pqiot.conformance.bundle import BundleError
    from pqiot.conformance.certify import CertificationError, certify
    from pqiot.conformance.declarations import DeclarationError
    from pqiot.conformance.deviations import DeviationError
    from pqiot.conformance.summary import format_summary

    try:
        result = certify(
            args.target,
            args.out,
            resume=args.resume,
            keyword=args.keyword,
            deviations_path=args.deviations,
            declarations_path=_declarations_file(args),
            signing_key_path=args.signing_key,
            transport=args.transport,
            measure=args.measure,
        )
    except (CertificationError, DeviationError, DeclarationError, BundleError) as exc:
        raise CliError(str(exc)) from None
    print(format_summary(result.report))
    print(f"HTML report: {(args.out / 'report.html').resolve()}")
    if result.interrupted:
        print(
            f"run interrupted: continue with `pqiot certify --target {args.target} "
            f"--out {args.out} --resume`"
        )
        return 130
    return 0 if result.conformant else 1
