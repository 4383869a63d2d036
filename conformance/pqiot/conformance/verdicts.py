"""From test outcomes to one verdict per requirement.

The rules are deliberately pessimistic: a single failing test fails the
requirement; a requirement is ``pass`` only when every test that names it ran
and passed; a harness problem is ``blocked``, never a pass; a requirement no
test names is ``untested``. ``blocked`` and ``untested`` are the two kinds of
the spec's ``not-tested`` (REQ-CONF-004), each with a reason.

A requirement the spec verifies by declaration or by the claim (§14.5) is
never ``pass``: a passing test sees only its observable part, so it stays
``untested`` (with the vendor's declaration attached, if any); a failing or
blocked test still fails or blocks it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pqiot.conformance.applicability import Statement, not_applicable_reason
from pqiot.conformance.declarations import Declaration
from pqiot.conformance.deviations import Deviation
from pqiot.conformance.requirements import Requirement

__all__ = ["Outcome", "RequirementVerdict", "TestOutcome", "Verdict", "aggregate"]


class Verdict(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not-applicable"
    BLOCKED = "blocked"
    UNTESTED = "untested"


class Outcome(enum.Enum):
    """What one test run ended in (the plugin's classification of pytest's report)."""

    PASSED = "passed"
    FAILED = "failed"  # the device did not behave as the requirement says
    BLOCKED = "blocked"  # the harness could not reach a verdict (link, setup, tool error)
    SKIPPED = "skipped"  # not run (not applicable, deselected capability)


@dataclass(frozen=True)
class TestOutcome:
    """One test's final outcome and the requirements it names."""

    __test__ = False  # a result record, not a pytest test class

    nodeid: str
    outcome: Outcome
    requirements: tuple[str, ...]
    detail: str = ""
    #: For a failed test: the requirements it failed, when not all (empty = all of them).
    failed_requirements: tuple[str, ...] = ()

    def for_requirement(self, req_id: str) -> TestOutcome:
        """This outcome as seen by one requirement: a failure elsewhere in the test is a pass."""
        partial = self.outcome is Outcome.FAILED and bool(self.failed_requirements)
        if partial and req_id not in self.failed_requirements:
            return TestOutcome(self.nodeid, Outcome.PASSED, self.requirements)
        return self


@dataclass
class RequirementVerdict:
    requirement: Requirement
    verdict: Verdict
    reason: str = ""
    tests: list[TestOutcome] = field(default_factory=list)
    deviation: Deviation | None = None
    declaration: Declaration | None = None

    @property
    def verification(self) -> str:
        return self.requirement.verification

    @property
    def unexpected_pass(self) -> bool:
        """A declared deviation whose tests all pass: the deviation file is out of date."""
        return self.deviation is not None and self.verdict is Verdict.PASS


def _verdict_of(tests: list[TestOutcome]) -> tuple[Verdict, str]:
    ran = [t for t in tests if t.outcome is not Outcome.SKIPPED]
    failed = [t.nodeid for t in ran if t.outcome is Outcome.FAILED]
    if failed:
        return Verdict.FAIL, f"failed: {', '.join(failed)}"
    blocked = [t for t in ran if t.outcome is Outcome.BLOCKED]
    if blocked:
        first = blocked[0]
        return Verdict.BLOCKED, f"harness could not decide {first.nodeid}: {first.detail}"
    if ran:
        return Verdict.PASS, f"{len(ran)} test(s) passed"
    if tests:
        return Verdict.UNTESTED, f"every test was skipped: {tests[0].detail}"
    return Verdict.UNTESTED, "no conformance test checks this requirement yet"


def _not_by_test(
    requirement: Requirement, verdict: Verdict, why: str, declared: bool
) -> tuple[Verdict, str]:
    """Declaration- and claim-verified requirements: a test can fail them, never pass them."""
    if verdict in (Verdict.FAIL, Verdict.BLOCKED):
        return verdict, why
    observed = f"; {why} (observable part only)" if verdict is Verdict.PASS else ""
    if requirement.verification == "claim":
        return Verdict.UNTESTED, f"a rule on the claim and the report (spec §14.5){observed}"
    state = "declared by the vendor" if declared else "NOT declared by the vendor"
    return (
        Verdict.UNTESTED,
        f"verified by vendor declaration (spec §14.5), {state}; a certifier must review it"
        f"{observed}",
    )


def aggregate(
    requirements: Iterable[Requirement],
    statement: Statement,
    outcomes: Iterable[TestOutcome],
    deviations: Mapping[str, Deviation] | None = None,
    declarations: Mapping[str, Declaration] | None = None,
) -> list[RequirementVerdict]:
    """Exactly one verdict per requirement, in catalogue order.

    Not-applicable wins over test results (a test of an undeclared feature says
    nothing about the claim); deviations and declarations never turn anything
    into a pass, they are attached so the report can show them separately.
    """
    by_requirement: dict[str, list[TestOutcome]] = {}
    for outcome in outcomes:
        for req_id in outcome.requirements:
            by_requirement.setdefault(req_id, []).append(outcome.for_requirement(req_id))
    deviations = deviations or {}
    declarations = declarations or {}
    verdicts = []
    for requirement in requirements:
        tests = by_requirement.get(requirement.id, [])
        declaration = declarations.get(requirement.id)
        reason = not_applicable_reason(requirement, statement)
        if reason is not None:
            verdict, why = Verdict.NOT_APPLICABLE, reason
        else:
            verdict, why = _verdict_of(tests)
            if requirement.verification != "test":
                verdict, why = _not_by_test(requirement, verdict, why, declaration is not None)
        verdicts.append(
            RequirementVerdict(
                requirement, verdict, why, tests, deviations.get(requirement.id), declaration
            )
        )
    return verdicts
