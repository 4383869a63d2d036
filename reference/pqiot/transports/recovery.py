"""Retry and resend policy for bindings: bounded, exponential, jittered, audited.

Product requirement: connection retries (default 3) and resends (default 2)
with exponential backoff and jitter, and every retry and every give-up visible
as an audit event (``retry`` / ``give_up``, D6). :class:`Retrier` is the
sans-I/O part: it is told about failures and answers "wait this long" or "give
up"; :func:`with_retries` is the small asyncio loop the transports share.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from pqiot.reference.audit import AuditEvent, AuditLog

__all__ = ["GaveUp", "RecoveryPolicy", "Retrier", "with_retries"]

T = TypeVar("T")


@dataclass(frozen=True)
class RecoveryPolicy:
    """How hard a binding tries before telling the application it failed.

    The n-th retry (n = 1, 2, ...) waits ``min(max_delay, base_delay * multiplier**(n-1))``
    scaled by a random factor in ``[1 - jitter, 1]`` so that many devices that lost the
    same broker do not reconnect in lockstep.
    """

    connect_retries: int = 3
    resends: int = 2
    base_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.connect_retries < 0 or self.resends < 0:
            raise ValueError("retry counts must be >= 0")
        if self.base_delay < 0 or self.max_delay < self.base_delay or self.multiplier < 1:
            raise ValueError("need 0 <= base_delay <= max_delay and multiplier >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction 0..1")

    def delay(self, retry: int, uniform: Callable[[], float] = random.random) -> float:
        """Backoff before retry number ``retry`` (1-based)."""
        if retry < 1:
            raise ValueError("retries are numbered from 1")
        ceiling = min(self.max_delay, self.base_delay * self.multiplier ** (retry - 1))
        return ceiling * (1.0 - self.jitter * uniform())

    def limit(self, operation: str) -> int:
        return self.connect_retries if operation == "connect" else self.resends


class GaveUp(Exception):
    """All retries of an operation failed; ``__cause__`` is the last failure."""

    def __init__(self, operation: str, target: str, attempts: int, reason: str) -> None:
        super().__init__(
            f"{operation} to {target} failed after {attempts} attempt(s): {reason}; "
            "check that the peer/broker is running and reachable, or raise the retry limits"
        )
        self.operation = operation
        self.target = target
        self.attempts = attempts
        self.reason = reason


class Retrier:
    """Counts failures of one operation (``connect`` or ``resend``) against a policy.

    ``failed()`` returns the delay before the next attempt, or ``None`` once the
    budget is spent; each answer is audited (``retry`` warning / ``give_up`` error).
    ``succeeded()`` resets the budget, so a link that recovers may fail again later.
    """

    def __init__(
        self,
        policy: RecoveryPolicy,
        operation: str,
        target: str,
        *,
        audit: AuditLog | None = None,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        if operation not in ("connect", "resend"):
            raise ValueError("operation is 'connect' or 'resend'")
        self.policy = policy
        self.operation = operation
        self.target = target
        self.audit = audit
        self._uniform = uniform
        self.failures = 0

    @property
    def attempts(self) -> int:
        return self.failures

    def failed(self, now: float, reason: str) -> float | None:
        self.failures += 1
        if self.failures > self.policy.limit(self.operation):
            self._emit(AuditEvent.GIVE_UP, now, {"attempts": self.failures, "reason": reason})
            return None
        delay = self.policy.delay(self.failures, self._uniform)
        self._emit(
            AuditEvent.RETRY,
            now,
            {"attempt": self.failures + 1, "delay_ms": round(delay * 1000), "reason": reason},
        )
        return delay

    def succeeded(self) -> None:
        self.failures = 0

    def _emit(self, event: AuditEvent, now: float, detail: dict[str, object]) -> None:
        if self.audit is not None:
            self.audit.emit(
                event,
                now=now,
                detail={"operation": self.operation, "target": self.target, **detail},
            )


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    retrier: Retrier,
    *,
    retry_on: tuple[type[BaseException], ...] = (OSError, TimeoutError),
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run ``operation`` until it succeeds or ``retrier`` gives up (then raise :class:`GaveUp`)."""
    while True:
        try:
            result = await operation()
        except retry_on as exc:
            reason = f"{type(exc).__name__}: {exc}"
            delay = retrier.failed(clock(), reason)
            if delay is None:
                raise GaveUp(retrier.operation, retrier.target, retrier.failures, reason) from exc
            await sleep(delay)
            continue
        retrier.succeeded()
        return result
