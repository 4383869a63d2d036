"""HASH (REQ-TAP-009) and ACCUMULATED (spec §13.7, REQ-TAP-012) on the reference firmware."""

from __future__ import annotations

import functools
import hashlib

import pytest

from pqiot.hil.agent_client import Command, Status
from pqiot.vectors.accumulated import accumulated_digest

from .conftest import Agent

FIXED = {"sha256": 32, "sha384": 48, "sha512": 64, "sha3-256": 32, "sha3-512": 64}
DATA = [b"", b"abc", bytes(range(256)) * 16]  # the last one is the 4096-byte limit


@pytest.mark.parametrize("alg", sorted(FIXED))
def test_fixed_length_hashes_match_hashlib(agent: Agent, alg: str) -> None:
    for data in DATA:
        expected = hashlib.new(alg.replace("-", "_"), data).digest()
        assert agent.client.call(Command.HASH, {"alg": alg, "data": data}).ok() == {
            "digest": expected
        }


@pytest.mark.parametrize("alg", ["shake128", "shake256"])
def test_xofs_match_hashlib(agent: Agent, alg: str) -> None:
    for data in DATA:
        for length in (1, 32, 1024):
            xof = hashlib.shake_128(data) if alg == "shake128" else hashlib.shake_256(data)
            expected = xof.digest(length)
            response = agent.client.call(Command.HASH, {"alg": alg, "data": data, "len": length})
            assert response.ok() == {"digest": expected}


@pytest.mark.parametrize("length", [0, 1025])
def test_xof_length_outside_1_to_1024_is_invalid_input(agent: Agent, length: int) -> None:
    """REQ-TAP-007: HASH len at most 1024; violations are status 6."""
    response = agent.client.call(Command.HASH, {"alg": "shake128", "data": b"", "len": length})
    assert response.status == Status.INVALID_INPUT
    agent.assert_alive()


def test_hash_data_above_4096_bytes_is_too_large(agent: Agent) -> None:
    """REQ-TAP-007: byte arguments of primitive commands at most 4096 bytes; status 4."""
    response = agent.client.call(Command.HASH, {"alg": "sha256", "data": bytes(4097)})
    assert response.status == Status.TOO_LARGE
    agent.assert_alive()


def test_unknown_hash_is_unsupported(agent: Agent) -> None:
    response = agent.client.call(Command.HASH, {"alg": "md5", "data": b""})
    assert response.status == Status.UNSUPPORTED
    agent.assert_alive()


def test_accumulated_mlkem768_100_iterations_equals_gos_digest(agent: Agent) -> None:
    """REQ-TAP-012: the digest published with Go's crypto/mlkem TestAccumulated."""
    response = agent.client.call(Command.ACCUMULATED, {"prim": "ml-kem-768", "n": 100}, timeout=60)
    assert response.ok() == {
        "n": 100,
        "digest": bytes.fromhex("1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415"),
    }


@functools.cache
def reference_digest(prim: str, n: int) -> bytes:
    return bytes.fromhex(accumulated_digest(prim.upper(), n))


@pytest.mark.parametrize(
    ("prim", "n"), [("ml-kem-512", 5), ("ml-kem-1024", 5), ("ml-dsa-44", 2), ("ml-dsa-65", 2)]
)
def test_accumulated_matches_the_reference(agent: Agent, prim: str, n: int) -> None:
    """§13.7 for the schemes without a published digest: the reference computes it."""
    response = agent.client.call(Command.ACCUMULATED, {"prim": prim, "n": n}, timeout=60)
    assert response.ok() == {"n": n, "digest": reference_digest(prim, n)}


def test_accumulated_zero_iterations_is_shake128_of_nothing(agent: Agent) -> None:
    response = agent.client.call(Command.ACCUMULATED, {"prim": "ml-kem-768", "n": 0})
    assert response.ok() == {"n": 0, "digest": hashlib.shake_128(b"").digest(32)}


def test_accumulated_limits(agent: Agent) -> None:
    """REQ-TAP-007: n at most 1,000,000; unknown primitives are unsupported."""
    too_many = agent.client.call(Command.ACCUMULATED, {"prim": "ml-kem-768", "n": 1_000_001})
    assert too_many.status == Status.INVALID_INPUT
    unknown = agent.client.call(Command.ACCUMULATED, {"prim": "ml-dsa-87", "n": 1})
    assert unknown.status == Status.UNSUPPORTED
    agent.assert_alive()
