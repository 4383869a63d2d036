"""Recorded randomness replays exactly, and any deviation is reported."""

from __future__ import annotations

import pytest

from pqiot.reference.crypto.rng import ShakeRng
from pqiot.vectors.randomness import RandomnessMismatch, RecordingRng, ReplayRng


def test_replay_gives_back_the_recorded_draws() -> None:
    recording = RecordingRng(ShakeRng(b"seed"))
    first, second = recording(64), recording(1)
    replay = ReplayRng(recording.draws, "test")
    assert (replay(64), replay(1)) == (first, second)
    assert replay.unused == 0


def test_a_different_draw_size_or_an_extra_draw_is_a_mismatch() -> None:
    replay = ReplayRng([b"\x00" * 32], "initiator rng")
    with pytest.raises(RandomnessMismatch, match="asks for 64 bytes, 32 were recorded"):
        replay(64)
    replay = ReplayRng([], "initiator rng")
    with pytest.raises(RandomnessMismatch, match="only 0 draws"):
        replay(1)
