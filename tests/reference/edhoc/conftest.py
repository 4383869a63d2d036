"""Shared helpers for the EDHOC tests: injected randomness and an in-memory wire."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pqiot.reference.edhoc import Initiator, Responder, State
from pqiot.reference.edhoc.events import Event

DATA = Path(__file__).parent / "data"


def load_trace(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def hx(value: str) -> bytes:
    return bytes.fromhex(value.replace(" ", ""))


class FixedRng:
    """Hands out pre-recorded bytes (a trace's ephemeral keys), failing loudly when exhausted."""

    def __init__(self, *chunks: bytes) -> None:
        self._buffer = b"".join(chunks)

    def __call__(self, n: int) -> bytes:
        if n > len(self._buffer):
            raise AssertionError(f"FixedRng exhausted: {n} bytes asked, {len(self._buffer)} left")
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def drain(endpoint: Initiator | Responder) -> list[Event]:
    events = []
    while (event := endpoint.next_event()) is not None:
        events.append(event)
    return events


Tamper = Callable[[str, bytes], bytes]


@dataclass
class Transcript:
    """Everything that crossed the in-memory wire, and every event, per side."""

    wire: list[tuple[str, bytes]] = field(default_factory=list)
    initiator_events: list[Event] = field(default_factory=list)
    responder_events: list[Event] = field(default_factory=list)
    responders: list[Responder] = field(default_factory=list)


def run(
    initiator: Initiator,
    responder: Responder | Callable[[], Responder],
    tamper: Tamper | None = None,
    max_rounds: int = 10,
) -> Transcript:
    """Start the initiator and shuttle messages until both sides are quiet.

    With a responder *factory*, a message arriving after the responder ended
    (a retried message_1 after ERR_CODE 2) goes to a fresh Responder, as a
    server would do.
    """
    factory = responder if callable(responder) and not isinstance(responder, Responder) else None
    current: Responder = factory() if factory is not None else responder  # type: ignore[assignment]
    transcript = Transcript()
    transcript.responders.append(current)
    initiator.start(now=0.0)
    for _ in range(max_rounds):
        moved = False
        for data in initiator.data_to_send():
            if tamper is not None:
                data = tamper("I->R", data)
            transcript.wire.append(("I->R", data))
            if factory is not None and current.state in (State.COMPLETED, State.FAILED):
                transcript.responder_events += drain(current)
                current = factory()
                transcript.responders.append(current)
            current.receive(data, now=0.0)
            moved = True
        responder = current
        for data in responder.data_to_send():
            if tamper is not None:
                data = tamper("R->I", data)
            transcript.wire.append(("R->I", data))
            initiator.receive(data, now=0.0)
            moved = True
        transcript.initiator_events += drain(initiator)
        transcript.responder_events += drain(responder)
        if not moved:
            break
    return transcript


# -- post-quantum identities ------------------------------------------------------------

import time  # noqa: E402

import pytest  # noqa: E402

from pqiot.reference.credentials import Credential, akp_ccs  # noqa: E402
from pqiot.reference.crypto import registry  # noqa: E402
from pqiot.reference.crypto.rng import ShakeRng  # noqa: E402
from pqiot.reference.security_provider import KeyRef  # noqa: E402
from pqiot.reference.software_provider import SoftwareSecurityProvider  # noqa: E402

FALCON_ALGS = (-65601, -65602)


@dataclass
class Identity:
    """A party's signature key (inside its own provider) and its CCS credential."""

    credential: Credential
    key: KeyRef
    provider: SoftwareSecurityProvider


class IdentityFactory:
    """Deterministic identities per (algorithm, name); Falcon keys are cached across sessions.

    Falcon key generation in pure Python takes ~11 s (512) / ~100 s (1024), so
    each Falcon key pair is generated once and kept in pytest's cache
    directory; both parties share it under different credentials (distinct
    subject and kid), which is all a handshake test needs.
    """

    def __init__(self, cache: pytest.Cache | None) -> None:
        self._cache = cache
        self._keys: dict[tuple[int, str], tuple[bytes, bytes]] = {}
        self.keygen_seconds: dict[int, float] = {}

    def _keypair(self, alg: int, name: str) -> tuple[bytes, bytes]:
        label = "shared" if alg in FALCON_ALGS else name
        if (alg, label) in self._keys:
            return self._keys[(alg, label)]
        cache_key = f"pqiot/edhoc/keys/{alg}/{label}"
        use_cache = self._cache is not None and alg in FALCON_ALGS
        cached = self._cache.get(cache_key, None) if use_cache and self._cache else None
        if cached is not None:
            pair = (bytes.fromhex(cached[0]), bytes.fromhex(cached[1]))
        else:
            start = time.perf_counter()
            pair = registry.signature(alg).generate(ShakeRng(f"{alg}/{label}".encode()))
            self.keygen_seconds[alg] = time.perf_counter() - start
            if use_cache and self._cache is not None:
                self._cache.set(cache_key, [pair[0].hex(), pair[1].hex()])
        self._keys[(alg, label)] = pair
        return pair

    def make(self, alg: int, name: str, kid: bytes) -> Identity:
        public_key, private_key = self._keypair(alg, name)
        provider = SoftwareSecurityProvider(rng=None)
        key = provider.add_signature_key(name, alg, private_key, public_key)
        return Identity(akp_ccs(f"{name}.example", kid, alg, public_key), key, provider)


@pytest.fixture(scope="session")
def identities(request: pytest.FixtureRequest) -> IdentityFactory:
    # ``-p no:cacheprovider`` (the shared-machine test command) removes config.cache.
    return IdentityFactory(getattr(request.config, "cache", None))
