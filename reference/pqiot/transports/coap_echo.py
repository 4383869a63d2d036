"""Echo-based freshness after a server restart (RFC 9175 §2, RFC 8613 App. B.1.2, REQ-COAP-008).

A server that restored OSCORE contexts cannot tell a request the client just
sent from one an attacker recorded before the restart and held back. So,
per restored context, it processes no request until the client has proven
freshness: the first authenticated request is answered with a protected
4.01 Unauthorized carrying an unpredictable Echo value (an inner, Class E
option), and only a later request that returns a value issued for the same
context, within its lifetime, is processed. Each value is good once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

__all__ = [
    "DEFAULT_ECHO_LIFETIME",
    "ECHO_LENGTH",
    "MAX_OUTSTANDING",
    "OPTION_ECHO",
    "EchoChallenges",
]

#: RFC 9175 §2.2.1: option number 252 (elective, safe to forward, no cache key).
OPTION_ECHO = 252
#: Value length: 8 random bytes are unguessable and well inside the 1..40 of RFC 9175 §2.2.1.
ECHO_LENGTH = 8
#: How long an issued value proves freshness (seconds).
DEFAULT_ECHO_LIFETIME = 30.0
#: Values kept per context (concurrent challenged requests); older ones are dropped.
MAX_OUTSTANDING = 4


class EchoChallenges:
    """Which contexts still owe a fresh request, and the Echo values handed out to each."""

    def __init__(
        self,
        *,
        lifetime: float = DEFAULT_ECHO_LIFETIME,
        clock: Callable[[], float] = time.monotonic,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._lifetime = lifetime
        self._clock = clock
        self._random = random_bytes
        self._required: set[bytes] = set()
        self._issued: dict[bytes, list[tuple[bytes, float]]] = {}
        self.challenges = 0
        self.verified = 0

    def require(self, kid: bytes) -> None:
        """Demand proof of freshness before the next request under ``kid`` is processed."""
        self._required.add(kid)

    def pending(self, kid: bytes) -> bool:
        return kid in self._required

    def forget(self, kid: bytes) -> None:
        self._required.discard(kid)
        self._issued.pop(kid, None)

    def issue(self, kid: bytes) -> bytes:
        """A new Echo value for the 4.01 answer to an unverified request under ``kid``."""
        value = self._random(ECHO_LENGTH)
        issued = self._issued.setdefault(kid, [])
        issued.append((value, self._clock()))
        del issued[:-MAX_OUTSTANDING]
        self.challenges += 1
        return value

    def verify(self, kid: bytes, echo: bytes | None) -> bool:
        """True (once) if ``echo`` was issued for ``kid`` within the lifetime; clears the demand."""
        if echo is None:
            return False
        now = self._clock()
        issued = [(v, t) for v, t in self._issued.get(kid, []) if now - t <= self._lifetime]
        if not any(secrets.compare_digest(value, echo) for value, _ in issued):
            self._issued[kid] = issued
            return False
        self.forget(kid)
        self.verified += 1
        return True
