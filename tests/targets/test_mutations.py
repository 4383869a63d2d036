"""Seeded random mutations of valid requests (REQ-TAP-005): whatever arrives, the agent
answers with a well-formed TAP response and keeps working. On host-asan any memory error
or undefined behaviour aborts the process, which fails the following ECHO. ACCUMULATED is
left out: a mutated ``n`` may legitimately ask for up to 10^6 iterations."""

from __future__ import annotations

import random

from pqiot.hil.agent_client import Command, Status
from pqiot.reference import cbor

from .conftest import Agent

SEEDS: list[bytes] = [
    cbor.encode([Command.ECHO, 1, {"data": b"seed"}]),
    cbor.encode([Command.MLKEM_KEYGEN, 2, {"set": 512, "d": bytes(32), "z": bytes(32)}]),
    cbor.encode([Command.HASH, 3, {"alg": "shake256", "data": b"abc", "len": 64}]),
    cbor.encode([Command.SIG_VERIFY, 4, {"alg": -48, "pk": bytes(1312), "msg": b"", "sig": b""}]),
    cbor.encode([Command.RESET, 6, {"scope": "sessions"}]),
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        action = rng.randrange(4)
        position = rng.randrange(len(out) + 1)
        if action == 0 and out:
            out[min(position, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif action == 1:
            out[position:position] = bytes([rng.choice([0x00, 0x18, 0x1B, 0x5F, 0x9F, 0xBF, 0xFF])])
        elif action == 2:
            del out[position : position + rng.randint(1, 8)]
        else:
            out[position:position] = rng.randbytes(rng.randint(1, 8))
    return bytes(out)


def test_mutated_requests_never_break_the_agent(agent: Agent) -> None:
    rng = random.Random(20261122)
    count = 60 if agent.is_qemu else 400
    for i in range(count):
        payload = mutate(rng, rng.choice(SEEDS))
        response = agent.client.call_raw(payload, timeout=30)
        assert 0 <= response.status <= Status.INTERNAL, (i, payload.hex())
        if response.status != Status.OK:
            assert isinstance(response.result.get("error"), str) or "iteration" in response.result
    agent.assert_alive()
    assert agent.client.call(Command.IDENTIFY).ok() == agent.identity
