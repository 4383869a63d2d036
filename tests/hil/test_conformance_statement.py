"""Consistency of a conformance statement (spec §14.2, REQ-CONF-003)."""

from __future__ import annotations

from pqiot.hil.conformance import ConformanceStatement, statement_problems

MINIMAL = {
    "suites": [-102],
    "methods": [0],
    "roles": ["responder"],
    "bindings": ["serial"],
    "features": ["key-update"],
}


def problems(**changes: object) -> list[str]:
    return statement_problems(ConformanceStatement.from_identity({**MINIMAL, **changes}))


def test_minimal_statement_is_consistent() -> None:
    assert problems() == []


def test_suite_retry_needs_the_initiator_role() -> None:
    """A Responder never sends message_1, so it cannot retry after ERR_CODE 2 (REQ-HS-029)."""
    assert any(
        "suite-retry requires role initiator" in p
        for p in problems(features=["key-update", "suite-retry"])
    )
    assert problems(roles=["initiator"], features=["key-update", "suite-retry"]) == []


def test_unknown_feature_is_named() -> None:
    assert any("'retry'" in p for p in problems(features=["key-update", "retry"]))


def test_record_bindings_need_key_update() -> None:
    assert any("key-update is required" in p for p in problems(features=[]))
