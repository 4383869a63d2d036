"""Verdict aggregation: one verdict per requirement, pessimistic, deviations never a pass."""

from __future__ import annotations

from pqiot.conformance.applicability import Statement
from pqiot.conformance.deviations import Deviation
from pqiot.conformance.requirements import load_catalogue
from pqiot.conformance.verdicts import Outcome, TestOutcome, Verdict, aggregate

HOST = Statement(
    suites=frozenset({-102}), methods=frozenset({0}), roles=frozenset({"responder"}),
    bindings=frozenset({"tcp"}), features=frozenset({"key-update"}),
)  # fmt: skip


def verdicts(*outcomes: TestOutcome, deviations: dict[str, Deviation] | None = None):  # type: ignore[no-untyped-def]
    result = aggregate(load_catalogue().requirements, HOST, outcomes, deviations)
    return {v.requirement.id: v for v in result}


def t(nodeid: str, outcome: Outcome, *reqs: str) -> TestOutcome:
    return TestOutcome(nodeid, outcome, reqs, "detail")


def test_every_requirement_gets_exactly_one_verdict() -> None:
    result = aggregate(load_catalogue().requirements, HOST, [])
    assert [v.requirement.id for v in result] == load_catalogue().ids()
    assert {v.verdict for v in result} <= {Verdict.UNTESTED, Verdict.NOT_APPLICABLE}


def test_one_failing_test_fails_the_requirement() -> None:
    v = verdicts(
        t("a", Outcome.PASSED, "REQ-HS-004"),
        t("b", Outcome.FAILED, "REQ-HS-004"),
        t("c", Outcome.BLOCKED, "REQ-HS-004"),
    )
    assert v["REQ-HS-004"].verdict is Verdict.FAIL and "b" in v["REQ-HS-004"].reason


def test_all_passing_is_pass_and_blocked_beats_pass() -> None:
    v = verdicts(
        t("a", Outcome.PASSED, "REQ-HS-004", "REQ-HS-005"),
        t("b", Outcome.BLOCKED, "REQ-HS-005"),
    )
    assert v["REQ-HS-004"].verdict is Verdict.PASS
    assert v["REQ-HS-005"].verdict is Verdict.BLOCKED


def test_no_test_or_only_skips_is_untested() -> None:
    v = verdicts(t("a", Outcome.SKIPPED, "REQ-HS-006"))
    assert v["REQ-HS-006"].verdict is Verdict.UNTESTED
    assert v["REQ-HS-007"].verdict is Verdict.UNTESTED
    assert "no conformance test" in v["REQ-HS-007"].reason


def test_not_applicable_wins_over_test_results() -> None:
    v = verdicts(t("a", Outcome.FAILED, "REQ-MQTT-001"))
    assert v["REQ-MQTT-001"].verdict is Verdict.NOT_APPLICABLE
    assert "mqtt" in v["REQ-MQTT-001"].reason


def test_deviation_keeps_the_failure_and_flags_an_unexpected_pass() -> None:
    deviations = {
        "REQ-HS-004": Deviation("REQ-HS-004", "known bug"),
        "REQ-HS-005": Deviation("REQ-HS-005", "expected to fail"),
    }
    v = verdicts(
        t("a", Outcome.FAILED, "REQ-HS-004"),
        t("b", Outcome.PASSED, "REQ-HS-005"),
        deviations=deviations,
    )
    assert v["REQ-HS-004"].verdict is Verdict.FAIL, "a deviation never turns a failure into a pass"
    assert v["REQ-HS-004"].deviation is not None and not v["REQ-HS-004"].unexpected_pass
    assert v["REQ-HS-005"].verdict is Verdict.PASS and v["REQ-HS-005"].unexpected_pass


def test_a_failure_limited_to_some_requirements_passes_the_others() -> None:
    """A conversation whose sanity handshake afterwards failed fails survival, not its subject."""
    survival = TestOutcome(
        "neg", Outcome.FAILED, ("REQ-HS-004", "REQ-ERR-007"), "teardown", ("REQ-ERR-007",)
    )
    v = verdicts(survival)
    assert v["REQ-ERR-007"].verdict is Verdict.FAIL
    assert v["REQ-HS-004"].verdict is Verdict.PASS
