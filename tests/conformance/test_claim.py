"""The conformance claim with declaration-verified requirements (REQ-CONF-004, REQ-CONF-007)."""

from __future__ import annotations

from pqiot.conformance.applicability import Statement
from pqiot.conformance.claim import build_claim
from pqiot.conformance.declarations import Declaration
from pqiot.conformance.requirements import Requirement, load_catalogue
from pqiot.conformance.verdicts import Outcome, RequirementVerdict, TestOutcome, Verdict, aggregate

HOST = Statement(
    suites=frozenset({-102}), methods=frozenset({0}), roles=frozenset({"responder"}),
    bindings=frozenset({"tcp"}), features=frozenset({"key-update"}),
)  # fmt: skip


def req(req_id: str, verification: str = "test", level: str = "MUST") -> Requirement:
    area = req_id.split("-")[1]
    return Requirement(req_id, level, area, "x.md", 1, "text", verification, "why")


# A miniature spec: two tested MUSTs, two declared MUSTs, a declared SHOULD, a claim rule.
SPEC = (
    req("REQ-HS-004"),
    req("REQ-HS-005"),
    req("REQ-HS-035", "declaration"),
    req("REQ-SP-001", "declaration"),
    req("REQ-SP-010", "declaration", level="SHOULD"),
    req("REQ-GEN-001", "claim"),
)
PASSING = (
    TestOutcome("t::a", Outcome.PASSED, ("REQ-HS-004",)),
    TestOutcome("t::b", Outcome.PASSED, ("REQ-HS-005",)),
)


def declared(*req_ids: str) -> dict[str, Declaration]:
    return {r: Declaration(r, f"{r} is met", "src/x.c") for r in req_ids}


def run(
    outcomes: tuple[TestOutcome, ...], decls: dict[str, Declaration]
) -> list[RequirementVerdict]:
    return aggregate(SPEC, HOST, outcomes, None, decls)


def test_tests_passed_and_every_declaration_present_is_conformant() -> None:
    claim = build_claim(run(PASSING, declared("REQ-HS-035", "REQ-SP-001")))
    assert claim["conformant"] is True
    assert claim["mandatory_declared"] == ["REQ-HS-035", "REQ-SP-001"]
    assert claim["verified_by_test"] == 2 and claim["verified_by_declaration"] == 2
    assert claim["certifier_review_required"] is True
    assert "2 more rest on vendor declarations" in claim["statement"]
    assert "certifier must review" in claim["statement"]


def test_a_missing_declaration_denies_the_claim() -> None:
    claim = build_claim(run(PASSING, declared("REQ-HS-035")))
    assert claim["conformant"] is False
    assert claim["mandatory_not_declared"] == ["REQ-SP-001"]
    assert claim["mandatory_not_passed"] == []
    assert (
        "1 declaration-verified MUST / MUST NOT requirement(s) have no vendor declaration"
        in (claim["statement"])
    )


def test_a_declared_should_is_not_required() -> None:
    """REQ-SP-010 is a SHOULD: without a declaration the claim still holds."""
    claim = build_claim(run(PASSING, declared("REQ-HS-035", "REQ-SP-001")))
    assert "REQ-SP-010" not in claim["mandatory_not_declared"]


def test_declarations_never_cover_a_test_verified_failure() -> None:
    outcomes = (PASSING[0], TestOutcome("t::b", Outcome.FAILED, ("REQ-HS-005",)))
    claim = build_claim(run(outcomes, declared("REQ-HS-035", "REQ-SP-001")))
    assert claim["conformant"] is False and claim["mandatory_not_passed"] == ["REQ-HS-005"]


def test_a_declared_requirement_is_never_pass() -> None:
    """REQ-CONF-007: a passing test of the observable part leaves a declared one untested."""
    outcomes = (*PASSING, TestOutcome("t::c", Outcome.PASSED, ("REQ-HS-035",)))
    by_id = {v.requirement.id: v for v in run(outcomes, declared("REQ-HS-035", "REQ-SP-001"))}
    assert by_id["REQ-HS-035"].verdict is Verdict.UNTESTED
    assert "declared by the vendor" in by_id["REQ-HS-035"].reason
    assert "observable part only" in by_id["REQ-HS-035"].reason
    assert by_id["REQ-HS-035"].declaration is not None
    assert by_id["REQ-SP-001"].verdict is Verdict.UNTESTED
    assert by_id["REQ-GEN-001"].verdict is Verdict.UNTESTED


def test_a_failing_test_fails_a_declared_requirement_and_the_claim() -> None:
    outcomes = (*PASSING, TestOutcome("t::c", Outcome.FAILED, ("REQ-HS-035",)))
    verdicts = run(outcomes, declared("REQ-HS-035", "REQ-SP-001"))
    by_id = {v.requirement.id: v for v in verdicts}
    assert by_id["REQ-HS-035"].verdict is Verdict.FAIL
    claim = build_claim(verdicts)
    assert claim["conformant"] is False
    assert claim["mandatory_not_passed"] == ["REQ-HS-035"]
    assert claim["mandatory_declared"] == ["REQ-SP-001"]


def test_claim_rules_do_not_count() -> None:
    """REQ-GEN-001 is the claim itself: it neither blocks the claim nor needs a declaration."""
    claim = build_claim(run(PASSING, declared("REQ-HS-035", "REQ-SP-001")))
    assert "REQ-GEN-001" not in claim["mandatory_not_passed"] + claim["mandatory_not_declared"]


def test_without_declarations_the_statement_says_so() -> None:
    spec = (req("REQ-HS-004"),)
    claim = build_claim(aggregate(spec, HOST, PASSING[:1], None, None))
    assert claim["conformant"] is True
    assert claim["certifier_review_required"] is False
    assert "none rests on a vendor declaration" in claim["statement"]


def test_on_the_real_spec_no_declarations_means_not_conformant() -> None:
    """Even with every test passing, the declaration-verified MUSTs deny the claim."""
    catalogue = load_catalogue()
    outcomes = [
        TestOutcome(f"t::{r.id}", Outcome.PASSED, (r.id,))
        for r in catalogue.requirements
        if r.verification == "test"
    ]
    claim = build_claim(aggregate(catalogue.requirements, HOST, outcomes))
    assert claim["mandatory_not_passed"] == []
    assert "REQ-HS-035" in claim["mandatory_not_declared"]
    assert claim["conformant"] is False
    every = {
        r.id for r in catalogue.requirements if r.verification == "declaration" and r.mandatory
    }
    decls = declared(*every)
    claim = build_claim(aggregate(catalogue.requirements, HOST, outcomes, None, decls))
    assert claim["conformant"] is True
    assert len(claim["mandatory_declared"]) == claim["verified_by_declaration"] > 0
