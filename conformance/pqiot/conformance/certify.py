"""One certification run: tests (pytest + the plugin), then reports, then the signed bundle.

The output directory is the unit of evidence. The journal inside it is the
only source of results, so an interrupted run still yields reports of what
ran, and ``resume=True`` continues it without repeating finished tests.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pqiot.conformance.bundle import (
    MANIFEST,
    SIGNATURE,
    SigningKey,
    ephemeral_key,
    load_signing_key,
    write_manifest,
)
from pqiot.conformance.declarations import Declaration, load_declarations
from pqiot.conformance.deviations import Deviation, load_deviations
from pqiot.conformance.html import write_html
from pqiot.conformance.journal import JOURNAL_NAME, read_journal
from pqiot.conformance.junit import write_junit
from pqiot.conformance.metrics import attach_measurements
from pqiot.conformance.report import build_report
from pqiot.conformance.requirements import load_catalogue

__all__ = ["SUITE_DIR", "CertificationError", "CertifyResult", "certify", "write_reports"]

SUITE_DIR = Path(__file__).resolve().parent / "suite"
_PYTEST_INTERRUPTED = 2
_PYTEST_USAGE_ERROR = 4
REPORT_FILES = ("report.json", "junit.xml", "report.html")


class CertificationError(RuntimeError):
    """The run could not start or produced no results; the message says what to do."""


@dataclass
class CertifyResult:
    out: Path
    report: dict[str, Any]
    pytest_exit: int
    interrupted: bool

    @property
    def conformant(self) -> bool:
        return bool(self.report["claim"]["conformant"]) and not self.interrupted


def _prepare_out(out: Path, resume: bool) -> None:
    journal = out / JOURNAL_NAME
    if journal.exists() and not resume:
        raise CertificationError(
            f"{out} already holds a run ({JOURNAL_NAME}); pass --resume to continue it, "
            "or choose an empty directory"
        )
    if resume and not journal.exists():
        raise CertificationError(f"nothing to resume: {journal} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    # Reports and the signature of an earlier attempt are rebuilt at the end.
    for name in (*REPORT_FILES, MANIFEST, SIGNATURE):
        (out / name).unlink(missing_ok=True)


def write_reports(
    out: Path,
    deviations: dict[str, Deviation],
    key: SigningKey,
    started: float,
    declarations: dict[str, Declaration] | None = None,
) -> dict[str, Any]:
    """Build report.json, junit.xml and report.html from the journal, then sign the bundle."""
    import json

    catalogue = load_catalogue()
    state = read_journal(out / JOURNAL_NAME)
    signing = {
        "algorithm": "ML-DSA-65",
        "ephemeral_key": key.ephemeral,
        "key_source": key.source,
        "public_key_sha256": __import__("hashlib").sha256(key.public_key).hexdigest(),
    }
    report = build_report(
        catalogue, state, deviations, signing=signing, started=started, declarations=declarations
    )
    attach_measurements(report, out / JOURNAL_NAME)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    write_junit(report, out / "junit.xml")
    write_html(report, out / "report.html")
    write_manifest(
        out,
        key,
        {"target": report["target"]["name"], "spec_version": report["spec_version"]},
    )
    return report


def certify(
    target: str,
    out: Path,
    *,
    resume: bool = False,
    keyword: str | None = None,
    deviations_path: Path | None = None,
    declarations_path: Path | None = None,
    signing_key_path: Path | None = None,
    transport: str = "auto",
    quiet: bool = False,
    measure: bool | None = None,
) -> CertifyResult:
    """Run the suite on ``target`` into ``out``; ``measure`` defaults to "unless -k selects"."""
    import pytest

    started = time.time()
    catalogue = load_catalogue()
    deviations: dict[str, Deviation] = {}
    if deviations_path is not None:
        deviations = load_deviations(deviations_path, catalogue.ids())
    declarations: dict[str, Declaration] = {}
    if declarations_path is not None:
        declarations = load_declarations(declarations_path, catalogue)
    both = sorted(deviations.keys() & declarations.keys())
    if both:
        raise CertificationError(
            f"{', '.join(both)}: both declared as met ({declarations_path}) and as a deviation "
            f"({deviations_path}); keep only the one that is true"
        )
    key = load_signing_key(signing_key_path) if signing_key_path else ephemeral_key()
    _prepare_out(out, resume)
    if deviations_path is not None:
        shutil.copyfile(deviations_path, out / f"deviations{deviations_path.suffix}")
    copy = out / "declarations.toml"
    if declarations_path is not None and declarations_path.resolve() != copy.resolve():
        # Part of the signed evidence: the certifier reviews exactly what the report shows.
        shutil.copyfile(declarations_path, copy)
    args = [
        str(SUITE_DIR),
        "-c",
        str(SUITE_DIR / "pytest.ini"),
        "--rootdir",
        str(SUITE_DIR),
        "--confcutdir",
        str(SUITE_DIR),
        "-p",
        "pqiot.conformance.plugin",
        "--target",
        target,
        "--out",
        str(out),
        "--transport",
        transport,
        "-q" if not quiet else "-qq",
        "--tb=short",
        "-p",
        "no:randomly",
    ]
    if resume:
        args.append("--resume")
    if keyword:
        args += ["-k", keyword]
    if measure if measure is not None else not keyword:
        args.append("--measure")
    code = int(pytest.main(args))
    state = read_journal(out / JOURNAL_NAME)
    if not state.runs:
        if (out / JOURNAL_NAME).exists() and not state.results:
            (out / JOURNAL_NAME).unlink()
        raise CertificationError(
            f"the certification of {target!r} did not start (pytest exit {code}); "
            "the reason is printed above"
        )
    report = write_reports(out, deviations, key, started, declarations)
    return CertifyResult(out, report, code, code == _PYTEST_INTERRUPTED)
