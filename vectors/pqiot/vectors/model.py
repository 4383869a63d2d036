"""What a vector set is and what running it yields.

A :class:`VectorSet` knows its name, where its answers come from, how many
vectors it holds and how to check them against a :class:`~pqiot.vectors.agent.PrimitiveAgent`.
Checking yields one :class:`CaseResult` per vector, so a runner can count
passes, failures and skips and show progress without knowing the set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from pqiot.vectors.agent import PrimitiveAgent

__all__ = ["CaseResult", "Status", "VectorSet", "blocked", "fail", "is_blocked", "ok", "skip"]

#: ``blocked``: the agent could not give an answer the harness can trust (a DUT
#: that hung and did not recover); it is neither a pass nor a failure.
Status = Literal["passed", "failed", "skipped", "blocked"]


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one vector; ``detail`` says what differed or why it was skipped."""

    case: str
    status: Status
    detail: str = ""


def ok(case: str) -> CaseResult:
    return CaseResult(case, "passed")


def fail(case: str, detail: str) -> CaseResult:
    return CaseResult(case, "failed", detail)


def skip(case: str, detail: str) -> CaseResult:
    return CaseResult(case, "skipped", detail)


def blocked(case: str, detail: str) -> CaseResult:
    return CaseResult(case, "blocked", detail)


def is_blocked(exc: BaseException) -> bool:
    """True for an agent's "no trustworthy answer" exception.

    The HIL harness raises ``pqiot.hil.verdict.Blocked`` whose ``verdict`` is
    ``Verdict.BLOCKED``; duck-typing on that keeps this portion free of a
    dependency on ``pqiot.hil`` (which depends on this one).
    """
    verdict = getattr(exc, "verdict", None)
    return getattr(verdict, "value", verdict) == "blocked"


#: Yields one result per vector; must not raise for a bad vector (report it as failed).
Checker = Callable[[PrimitiveAgent], Iterator[CaseResult]]


@dataclass(frozen=True)
class VectorSet:
    """One named group of vectors with a single source.

    ``count`` is cheap where possible (committed files) and may load the
    source package; ``slow`` sets run only when asked for (``--slow`` or
    ``--set``); ``slow_on_device`` sets are quick in the reference but take
    tens of minutes through a device's agent link, so against a device they
    too run only when asked for. ``reference_only`` sets replay protocol runs inside the
    reference and cannot run on a device through the primitive agent.
    """

    name: str
    source: str
    description: str
    count: Callable[[], int]
    check: Checker
    slow: bool = False
    slow_on_device: bool = False
    reference_only: bool = False
    tags: tuple[str, ...] = field(default=())
