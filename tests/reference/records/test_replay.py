"""Replay window (RFC 8613 §7.4, D4) against a plain set-based model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pqiot.reference.records.replay import ReplayWindow


class SetModel:
    """Accept a number once, unless it is ``size`` or more below the highest accepted one."""

    def __init__(self, size: int) -> None:
        self.size, self.seen, self.highest = size, set[int](), -1

    def offer(self, n: int) -> bool:
        if n in self.seen or (self.highest >= 0 and n <= self.highest - self.size):
            return False
        self.seen.add(n)
        self.highest = max(self.highest, n)
        return True


def offer(window: ReplayWindow, n: int) -> bool:
    if not window.check(n):
        return False
    window.accept(n)
    return True


# Mostly-increasing streams with local reordering, duplicates and occasional big jumps.
streams = st.lists(
    st.one_of(st.integers(0, 300), st.integers(0, 1 << 40), st.integers(0, 70)),
    min_size=1,
    max_size=300,
)


@settings(max_examples=80, deadline=None)
@given(numbers=streams, size=st.sampled_from([64, 65, 100, 128]))
def test_window_matches_set_model(numbers: list[int], size: int) -> None:
    """REQ: each PIV accepted at most once; PIVs older than the window rejected; newer always accepted."""
    window, model = ReplayWindow(size), SetModel(size)
    for n in numbers:
        assert offer(window, n) == model.offer(n), n


@settings(max_examples=30, deadline=None)
@given(order=st.permutations(list(range(200))), dups=st.lists(st.integers(0, 199), max_size=50))
def test_reordered_stream_with_duplicates(order: list[int], dups: list[int]) -> None:
    window, model = ReplayWindow(), SetModel(64)
    for n in order + dups:
        assert offer(window, n) == model.offer(n)


def test_spec_example_of_req_replay_004() -> None:
    """REQ-REPLAY-004: W = 64; after 10 and 8, PIV 9 is accepted once, 8 is rejected, <= top - 64 too."""
    window = ReplayWindow(64)
    assert offer(window, 10) and offer(window, 8)
    assert offer(window, 9) and not offer(window, 9)
    assert not offer(window, 8)
    assert offer(window, 100) and not offer(window, 36) and offer(window, 37)


def test_check_does_not_mark_seen() -> None:
    """A forged record (check passed, tag failed, accept not called) must not burn its PIV."""
    window = ReplayWindow()
    assert window.check(5) and window.check(5)
    window.accept(5)
    assert not window.check(5)
    with pytest.raises(ValueError):
        window.accept(5)


def test_reject_up_to_blocks_everything_at_or_below_the_bound() -> None:
    """D4 restart: after reject_up_to(R) every PIV <= R is a replay, R+1 is fresh."""
    window = ReplayWindow()
    window.reject_up_to(100)
    assert not any(window.check(n) for n in range(0, 101))
    assert window.check(101)


def test_window_size_must_be_at_least_64() -> None:
    with pytest.raises(ValueError):
        ReplayWindow(63)
