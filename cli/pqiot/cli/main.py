"""Entry point of the ``pqiot`` command.

Each subcommand lives in its own module exposing ``register(subparsers)``;
heavy imports happen inside the command functions so that ``pqiot --version``
and ``--help`` stay instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from pqiot.cli.errors import CliError

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "pqiot.cli.suites_cmd",
    "pqiot.cli.keys_cmd",
    "pqiot.cli.peer_cmd",
    "pqiot.cli.vectors_cmd",
    "pqiot.cli.fuzz_cmd",
    "pqiot.cli.targets_cmd",
    "pqiot.cli.agent_cmd",
    "pqiot.cli.certify_cmd",
    "pqiot.cli.report_cmd",
    "pqiot.cli.bench_cmd",
)


def package_version() -> str:
    try:
        return version("pqiot")
    except PackageNotFoundError:  # running from a checkout without installation
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pqiot",
        description="Conformance, interop and benchmark suite for the PQC-IIoT protocol.",
    )
    parser.add_argument("--version", action="version", version=f"pqiot {package_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        result: int = handler(args)
    except CliError as exc:
        print(f"pqiot: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pqiot: interrupted", file=sys.stderr)
        return 130
    return result


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
