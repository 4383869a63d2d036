"""Verdicts of a harness run: a result is PASS, FAIL or BLOCKED, never lost.

BLOCKED means the harness could not obtain an answer it can trust (the DUT hung
and did not come back, or came back without the state the step needed). It is
an explicit outcome so that a recovery can never turn into a silent pass.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Blocked", "Verdict"]


class Verdict(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    BLOCKED = "blocked"


@dataclass
class Blocked(Exception):
    """The harness gave up on one command; ``attempts`` lists what it tried and why it failed."""

    command: str
    reason: str
    attempts: tuple[str, ...] = ()

    def __str__(self) -> str:
        tried = "; ".join(self.attempts)
        return f"BLOCKED: {self.command}: {self.reason}" + (
            f" (attempts: {tried})" if tried else ""
        )

    @property
    def verdict(self) -> Verdict:
        return Verdict.BLOCKED
