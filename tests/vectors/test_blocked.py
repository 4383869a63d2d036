"""A device that stops answering yields BLOCKED: never a pass, never a failure (issue 6, §3).

The HIL client raises :class:`pqiot.hil.verdict.Blocked` when reset-and-retry
cannot get a trustworthy answer; the vector runner must report that vector and
every vector not yet run as blocked, and the CLI must not exit 0 or 1 for it.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pqiot.cli.main import main
from pqiot.hil.verdict import Blocked
from pqiot.vectors import targets
from pqiot.vectors.agent import ReferenceAgent
from pqiot.vectors.catalog import all_sets
from pqiot.vectors.model import is_blocked
from pqiot.vectors.runner import run_set


class HangsAfter(ReferenceAgent):
    """The reference, until the DUT "hangs" after ``answers`` HKDF/accumulated calls."""

    def __init__(self, answers: int) -> None:
        super().__init__()
        self.answers = answers

    def _tick(self, command: str) -> None:
        if self.answers == 0:
            raise Blocked(command, "recovery of the DUT failed", ("reset: no HELLO",))
        self.answers -= 1

    def hkdf(self, *args: Any, **kwargs: Any) -> Any:
        self._tick("HKDF")
        return super().hkdf(*args, **kwargs)

    def accumulated(self, *args: Any, **kwargs: Any) -> Any:
        self._tick("ACCUMULATED")
        return super().accumulated(*args, **kwargs)


def _set(name: str) -> Any:
    return next(s for s in all_sets() if s.name == name)


def test_the_hil_blocked_exception_is_recognised() -> None:
    assert is_blocked(Blocked("HKDF", "gone"))
    assert not is_blocked(RuntimeError("blocked"))


def test_a_blocked_vector_and_the_rest_of_the_set_are_blocked_not_failed() -> None:
    result = run_set(_set("hkdf-sha256"), HangsAfter(answers=3))  # 3 calls per vector
    assert (result.passed, result.failed, result.skipped, result.blocked) == (1, 0, 0, 2)
    assert result.verdict == "BLOCKED"
    assert result.failures == []
    assert "recovery of the DUT failed" in result.blocked_reasons[0]
    assert result.to_json()["blocked"] == 2


def test_blocked_inside_a_set_without_per_vector_guards_is_blocked_too() -> None:
    """Accumulated runs call the agent directly; Blocked still never becomes a failure."""
    result = run_set(_set("accumulated-100"), HangsAfter(answers=0))
    assert (result.passed, result.failed, result.blocked) == (0, 0, 3)


def test_a_run_without_blocking_keeps_the_documented_json_shape() -> None:
    result = run_set(_set("hkdf-sha256"), HangsAfter(answers=100))
    assert result.verdict == "PASS" and "blocked" not in result.to_json()


class _Registry(types.ModuleType):
    """A HIL target registry whose one device answers ``answers`` times, then hangs."""

    def __init__(self) -> None:
        super().__init__("pqiot_tests_blocking_registry")
        self.answers = 3

    @contextmanager
    def open_primitive_agent(self, name: str) -> Iterator[ReferenceAgent]:
        yield HangsAfter(self.answers)


def test_cli_reports_blocked_and_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _Registry()
    monkeypatch.setitem(sys.modules, registry.__name__, registry)
    monkeypatch.setattr(targets, "HIL_TARGETS_MODULE", registry.__name__)
    code = main(["vectors", "verify", "--target", "dut", "--set", "hkdf-sha256", "--json"])
    (entry,) = json.loads(capsys.readouterr().out)["sets"]
    assert code == 3
    assert (entry["passed"], entry["failed"], entry["blocked"]) == (1, 0, 2)
    code = main(["vectors", "verify", "--target", "dut", "--set", "hkdf-sha256"])
    out = capsys.readouterr().out
    assert code == 3 and out.startswith("BLOCKED hkdf-sha256") and "2 BLOCKED" in out
    registry.answers = 0
    accumulated = ["vectors", "accumulated", "--scheme", "ML-KEM-512", "--iterations", "1"]
    code = main([*accumulated, "--target", "dut"])
    captured = capsys.readouterr()
    assert code == 3 and captured.out == "" and "BLOCKED" in captured.err
