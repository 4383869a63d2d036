"""``pqiot report verify|show DIR``: check an evidence bundle, summarise a report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pqiot.cli.errors import CliError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("report", help="verify or show a certification report")
    commands = parser.add_subparsers(dest="report_command", metavar="COMMAND", required=True)
    verify = commands.add_parser(
        "verify", help="check the signed manifest: any modified, missing or extra file fails"
    )
    verify.add_argument("directory", type=Path)
    verify.add_argument(
        "--public-key",
        type=Path,
        default=None,
        help="the signer's .cred/.key file or raw public key to require (default: any key)",
    )
    verify.set_defaults(handler=run_verify)
    show = commands.add_parser("show", help="terminal summary of report.json")
    show.add_argument("directory", type=Path)
    show.add_argument(
        "--all", action="store_true", help="list every requirement, not only problems"
    )
    show.set_defaults(handler=run_show)


def _trusted_key(path: Path | None) -> bytes | None:
    if path is None:
        return None
    from pqiot.reference.identity import IdentityError, load_credential, load_private_key

    try:
        if path.suffix == ".cred":
            return load_credential(path).public_key
        if path.suffix == ".key":
            return load_private_key(path).public_key
        return path.read_bytes()
    except (IdentityError, OSError) as exc:
        raise CliError(f"cannot read the public key {path}: {exc}") from None


def run_verify(args: argparse.Namespace) -> int:
    from pqiot.conformance.bundle import BundleError, verify_bundle

    try:
        manifest = verify_bundle(args.directory, _trusted_key(args.public_key))
    except BundleError as exc:
        for problem in exc.problems:
            print(f"FAIL {problem}")
        raise CliError(f"{args.directory}: the evidence bundle does NOT verify") from None
    print(f"OK {len(manifest['files'])} files match the manifest; ML-DSA-65 signature valid")
    print(f"signer key SHA-256: {manifest['public_key_sha256']}")
    if manifest.get("ephemeral_key"):
        print("WARNING: signed with an EPHEMERAL key: integrity only, not the producer's identity")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from pqiot.conformance.summary import format_summary

    path = args.directory / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    print(format_summary(report, everything=args.all))
    return 0
