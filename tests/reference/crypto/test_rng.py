"""Randomness sources: the SHAKE128 stream must be a plain prefix-consistent XOF stream."""

from __future__ import annotations

import hashlib

import pytest

from pqiot.reference.crypto.rng import ShakeRng, system_rng


def test_shake_rng_is_the_shake128_stream_across_calls() -> None:
    rng = ShakeRng(b"seed")
    sizes = [0, 1, 31, 64, 5000, 3, 10000]
    drawn = b"".join(rng(n) for n in sizes)
    assert drawn == hashlib.shake_128(b"seed").digest(sum(sizes))
    assert rng.position == sum(sizes)


def test_shake_rng_empty_seed_is_go_accumulated_source() -> None:
    assert ShakeRng()(16) == hashlib.shake_128(b"").digest(16)


def test_different_seeds_give_different_streams() -> None:
    assert ShakeRng(b"a")(32) != ShakeRng(b"b")(32)


def test_system_rng_lengths_and_errors() -> None:
    assert len(system_rng(48)) == 48
    assert system_rng(32) != system_rng(32)
    with pytest.raises(ValueError):
        system_rng(-1)
    with pytest.raises(ValueError):
        ShakeRng()(-1)
