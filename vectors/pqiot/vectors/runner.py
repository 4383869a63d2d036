"""Run vector sets against an agent and count what passed, failed and was skipped.

The runner is the only place that decides what a result means: an exception
escaping a set's checker (a bug, or a vector file nobody anticipated) is one
failure with the exception's text, never a crash of the whole run and never a
pass. An agent that cannot give a trustworthy answer (the HIL harness's
``Blocked``: the DUT hung and recovery failed) ends the set as BLOCKED: that
vector and every vector not yet run are counted as blocked, never as passed
and never as failed. Slow sets are reported as skipped with the reason unless
asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from pqiot.vectors.agent import PrimitiveAgent
from pqiot.vectors.model import CaseResult, VectorSet, blocked, is_blocked

__all__ = ["SetResult", "run_set", "run_sets"]

SLOW_REASON = "slow set: run with --slow or name it with --set"
SLOW_ON_DEVICE_REASON = "slow through a device link: run with --slow or name it with --set"
REFERENCE_ONLY_REASON = (
    "replays protocol runs inside the reference; on a device these vectors run through the "
    "TAP protocol roles, which land with the HIL harness (issue 6)"
)


@dataclass
class SetResult:
    name: str
    source: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    blocked: int = 0
    seconds: float = 0.0
    failures: list[CaseResult] = field(default_factory=list)
    skip_reasons: list[str] = field(default_factory=list)
    blocked_reasons: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """FAIL beats BLOCKED beats PASS; a set with nothing run is SKIP."""
        if self.failed:
            return "FAIL"
        if self.blocked:
            return "BLOCKED"
        return "SKIP" if self.passed == 0 and self.skipped else "PASS"

    def add(self, result: CaseResult) -> None:
        if result.status == "passed":
            self.passed += 1
        elif result.status == "failed":
            self.failed += 1
            self.failures.append(result)
        elif result.status == "blocked":
            self.blocked += 1
            if result.detail not in self.blocked_reasons:
                self.blocked_reasons.append(result.detail)
        else:
            self.skipped += 1
            if result.detail not in self.skip_reasons:
                self.skip_reasons.append(result.detail)

    def to_json(self) -> dict[str, object]:
        """The documented shape; ``blocked`` is added only when a vector was blocked."""
        document: dict[str, object] = {
            "name": self.name,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "source": self.source,
        }
        if self.blocked:
            document["blocked"] = self.blocked
        return document


#: Called once per set with its expected count; returns a per-case callback and a closer.
ProgressFactory = Callable[[VectorSet, int], tuple[Callable[[], None], Callable[[], None]]]


def _guarded(results: Iterator[CaseResult], name: str) -> Iterator[CaseResult]:
    try:
        yield from results
    except Exception as exc:  # a checker bug must be a counted failure, not a crash
        if is_blocked(exc):
            yield blocked(name, str(exc))
        else:
            yield CaseResult(name, "failed", f"checker stopped: {type(exc).__name__}: {exc}")


def run_set(
    vector_set: VectorSet,
    agent: PrimitiveAgent,
    *,
    include_slow: bool = False,
    reference: bool = True,
    progress: ProgressFactory | None = None,
) -> SetResult:
    result = SetResult(vector_set.name, vector_set.source)
    try:
        expected = vector_set.count()
    except Exception as exc:
        result.add(CaseResult(vector_set.name, "failed", f"cannot count the set: {exc}"))
        return result
    if vector_set.slow and not include_slow:
        result.skipped = expected
        result.skip_reasons.append(SLOW_REASON)
        return result
    if vector_set.slow_on_device and not reference and not include_slow:
        result.skipped = expected
        result.skip_reasons.append(SLOW_ON_DEVICE_REASON)
        return result
    if vector_set.reference_only and not reference:
        result.skipped = expected
        result.skip_reasons.append(REFERENCE_ONLY_REASON)
        return result
    step, close = progress(vector_set, expected) if progress else (lambda: None, lambda: None)
    start = time.perf_counter()
    try:
        for case in _guarded(vector_set.check(agent), vector_set.name):
            result.add(case)
            step()
    finally:
        close()
    if result.blocked:
        # The vectors after the one that blocked never ran: they are blocked, not lost.
        ran = result.passed + result.failed + result.skipped + result.blocked
        result.blocked += max(0, expected - ran)
    result.seconds = time.perf_counter() - start
    return result


def run_sets(
    sets: Sequence[VectorSet],
    agent: PrimitiveAgent,
    *,
    include_slow: bool = False,
    reference: bool = True,
    progress: ProgressFactory | None = None,
) -> list[SetResult]:
    return [
        run_set(s, agent, include_slow=include_slow, reference=reference, progress=progress)
        for s in sets
    ]
