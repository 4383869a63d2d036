"""``pqiot suites``: print the cipher-suite registry of the spec."""

from __future__ import annotations

import argparse
import json
from typing import Any

COLUMNS = ("id", "name", "kem", "signature", "aead", "hash", "status")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("suites", help="list the cipher-suite registry")
    parser.add_argument("--json", action="store_true", help="print the registry as JSON")
    parser.set_defaults(handler=run)


def describe(suite: Any) -> dict[str, Any]:
    """The registry row plus the algorithm names a person reads (KEM, signature, AEAD, hash)."""
    row: dict[str, Any] = dict(suite.to_json())
    row["kem"] = (suite.kem() if suite.is_kem else suite.dh()).name
    row["signature"] = suite.signature().name
    row["aead"] = suite.application_aead().name
    row["hash"] = suite.hash().name
    return row


def run(args: argparse.Namespace) -> int:
    from pqiot.reference import suites

    rows = [describe(suite) for suite in suites.all_suites()]
    if args.json:
        print(json.dumps({"default": suites.DEFAULT_SUITE, "suites": rows}, indent=2))
        return 0
    table = [[str(row[column]) for column in COLUMNS] for row in rows]
    widths = [
        max(len(column), *(len(cells[i]) for cells in table)) for i, column in enumerate(COLUMNS)
    ]
    print("  ".join(column.upper().ljust(widths[i]) for i, column in enumerate(COLUMNS)))
    for row, cells in zip(rows, table, strict=True):
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells))
        print(line.rstrip() + ("  (default)" if row["id"] == suites.DEFAULT_SUITE else ""))
    return 0
