"""The conformance claim of a report (REQ-CONF-004, REQ-CONF-007).

Conformant means: every applicable MUST / MUST NOT requirement verified by test
passed, and every applicable one verified by declaration (spec §14.5) is
declared by the vendor and no test of its observable part failed or was
blocked. Claim-verified requirements (rules on the report itself) do not count.
The statement always says how many requirements rest on declarations, because
those hold only once a certifier has reviewed them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pqiot.conformance.verdicts import RequirementVerdict, Verdict

__all__ = ["build_claim"]


def _statement(
    by_test: int, not_passed: list[str], declared: list[str], not_declared: list[str]
) -> str:
    review = (
        f"{len(declared)} more rest on vendor declarations, which a certifier must review "
        "before the claim is accepted"
        if declared
        else "none rests on a vendor declaration"
    )
    if not not_passed and not not_declared:
        return (
            f"all {by_test} applicable test-verified MUST / MUST NOT requirements passed; {review}"
        )
    problems = []
    if not_passed:
        problems.append(f"{len(not_passed)} applicable MUST / MUST NOT requirement(s) did not pass")
    if not_declared:
        problems.append(
            f"{len(not_declared)} declaration-verified MUST / MUST NOT requirement(s) "
            "have no vendor declaration"
        )
    return "; ".join(problems) + f" ({len(declared)} declared, for certifier review)"


def build_claim(verdicts: Iterable[RequirementVerdict]) -> dict[str, Any]:
    """The ``claim`` object of report.json (schema in docs/report-schema.md)."""
    mandatory = [
        v for v in verdicts if v.requirement.mandatory and v.verdict is not Verdict.NOT_APPLICABLE
    ]
    by_test = [v for v in mandatory if v.verification == "test"]
    by_declaration = [v for v in mandatory if v.verification == "declaration"]
    not_passed = [v.requirement.id for v in by_test if v.verdict is not Verdict.PASS]
    # A test of the observable part can still fail a declared requirement.
    not_passed += [
        v.requirement.id for v in by_declaration if v.verdict in (Verdict.FAIL, Verdict.BLOCKED)
    ]
    declared = [
        v.requirement.id
        for v in by_declaration
        if v.declaration is not None and v.requirement.id not in not_passed
    ]
    not_declared = [v.requirement.id for v in by_declaration if v.declaration is None]
    conformant = not not_passed and not not_declared
    return {
        "conformant": conformant,
        "applicable_mandatory": len(mandatory),
        "verified_by_test": len(by_test),
        "verified_by_declaration": len(by_declaration),
        "mandatory_not_passed": not_passed,
        "mandatory_declared": declared,
        "mandatory_not_declared": not_declared,
        "certifier_review_required": bool(declared),
        "statement": _statement(len(by_test), not_passed, declared, not_declared),
    }
