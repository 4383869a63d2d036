"""``report.json``: the verdict of every requirement with its tests, evidence and context.

The document is built only from the run journal, the spec and the deviations
file, so it can be rebuilt at any time (``--resume`` does) and always reflects
exactly what ran. Its schema is documented in ``docs/report-schema.md``.
Vendor declarations (spec §14.5) are shown beside the verdicts, never as passes.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pqiot.conformance.applicability import Statement
from pqiot.conformance.claim import build_claim
from pqiot.conformance.declarations import Declaration
from pqiot.conformance.deviations import Deviation
from pqiot.conformance.journal import JournalState
from pqiot.conformance.requirements import RequirementCatalogue
from pqiot.conformance.verdicts import Outcome, TestOutcome, Verdict, aggregate

__all__ = ["REPORT_SCHEMA", "REPORT_SCHEMA_VERSION", "build_report", "tool_version"]

REPORT_SCHEMA = "pqiot-conformance-report"
REPORT_SCHEMA_VERSION = 2
VERDICTS = tuple(v.value for v in Verdict)


def tool_version() -> str:
    try:
        return version("pqiot")
    except PackageNotFoundError:
        return "0+unknown"


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def environment() -> dict[str, Any]:
    import pytest

    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "pytest": pytest.__version__,
        "pqiot": tool_version(),
        "git_commit": _git_commit(),
    }


def _test_outcomes(state: JournalState) -> list[TestOutcome]:
    return [
        TestOutcome(
            nodeid,
            Outcome(entry["outcome"]),
            tuple(entry.get("requirements", ())),
            str(entry.get("detail", "")),
            tuple(entry.get("failed_requirements", ())),
        )
        for nodeid, entry in state.results.items()
    ]


def _interop(state: JournalState) -> list[dict[str, Any]]:
    cells = []
    for nodeid, entry in state.results.items():
        marker = entry.get("interop")
        params = entry.get("params", {})
        if marker is None or "suite" not in params:
            continue
        cells.append(
            {
                "suite": params["suite"],
                "role": params.get("device_role", "?"),
                "binding": marker.get("binding", "?"),
                "outcome": entry["outcome"],
                "nodeid": nodeid,
            }
        )
    return sorted(cells, key=lambda c: (c["suite"] != -102, -int(c["suite"]), c["role"]))


def build_report(
    catalogue: RequirementCatalogue,
    state: JournalState,
    deviations: Mapping[str, Deviation],
    *,
    signing: Mapping[str, Any],
    started: float,
    declarations: Mapping[str, Declaration] | None = None,
) -> dict[str, Any]:
    if not state.runs:
        raise ValueError("the journal holds no run: nothing was started")
    first_run, last_run = state.runs[0], state.runs[-1]
    identity = dict(last_run.get("identity", {}))
    statement = Statement.from_mapping(identity)
    verdicts = aggregate(
        catalogue.requirements, statement, _test_outcomes(state), deviations, declarations
    )
    counts = Counter(v.verdict.value for v in verdicts)
    results = state.results
    requirements = []
    for v in verdicts:
        requirements.append(
            {
                "id": v.requirement.id,
                "level": v.requirement.level,
                "area": v.requirement.area,
                "file": v.requirement.file,
                "line": v.requirement.line,
                "text": v.requirement.text,
                "verdict": v.verdict.value,
                "reason": v.reason,
                "tests": [
                    {
                        "nodeid": t.nodeid,
                        "outcome": t.outcome.value,
                        "detail": t.detail,
                        "log": results[t.nodeid].get("log"),
                        "evidence": results[t.nodeid].get("evidence", {}),
                    }
                    for t in v.tests
                ],
                "deviation": v.deviation.to_json() if v.deviation else None,
                "unexpected_pass": v.unexpected_pass,
                "verification": v.verification,
                "verification_reason": v.requirement.verification_reason,
                "declaration": v.declaration.to_json() if v.declaration else None,
            }
        )
    deviation_rows = [
        {
            **v.deviation.to_json(),
            "level": v.requirement.level,
            "verdict": v.verdict.value,
            "unexpected_pass": v.unexpected_pass,
        }
        for v in verdicts
        if v.deviation is not None
    ]
    declaration_rows = [
        {
            "requirement": v.requirement.id,
            "level": v.requirement.level,
            "verdict": v.verdict.value,
            "applicable": v.verdict is not Verdict.NOT_APPLICABLE,
            "declared": v.declaration is not None,
            "why_not_tested": v.requirement.verification_reason,
            "statement": v.declaration.statement if v.declaration else None,
            "evidence": v.declaration.evidence if v.declaration else None,
        }
        for v in verdicts
        if v.verification == "declaration"
    ]
    metrics = [
        {**metric, "test": nodeid}
        for nodeid, entry in results.items()
        for metric in entry.get("metrics", [])
    ]
    finished = time.time()
    return {
        "schema": REPORT_SCHEMA,
        "schema_version": REPORT_SCHEMA_VERSION,
        "spec_version": catalogue.spec_version,
        "protocol_version": catalogue.protocol_version,
        "suite_version": tool_version(),
        "target": {
            "name": last_run.get("target"),
            "transport": last_run.get("transport"),
            "description": last_run.get("description", {}),
            "vendor": identity.get("vendor"),
            "product": identity.get("product"),
            "firmware": identity.get("firmware"),
        },
        "conformance_statement": identity,
        "claim": build_claim(verdicts),
        "summary": {verdict: counts.get(verdict, 0) for verdict in VERDICTS}
        | {
            "total": len(verdicts),
            "deviations": len(deviation_rows),
            "declarations": sum(1 for row in declaration_rows if row["declared"]),
        },
        "requirements": requirements,
        "deviations": deviation_rows,
        "declarations": declaration_rows,
        "tests": [dict(entry) for entry in results.values()],
        "interrupted_tests": state.interrupted,
        "interop": _interop(state),
        "metrics": metrics,
        "environment": environment(),
        "signing": dict(signing),
        "timings": {
            "first_run_started": first_run.get("time"),
            "report_started": started,
            "report_finished": finished,
            "runs": [{"time": r.get("time"), "resume": r.get("resume")} for r in state.runs],
            "test_seconds": round(sum(float(e.get("duration", 0)) for e in results.values()), 3),
        },
    }
