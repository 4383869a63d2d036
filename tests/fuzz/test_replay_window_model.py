"""The replay windows against the obvious model: the set of accepted sequence numbers.

REQ-REPLAY-002: p is fresh iff nothing was accepted yet, or p > top, or
(top - p < W and p was not accepted). REQ-REPLAY-009: after a restart from a
persisted bound P, every p <= P is a replay. Hypothesis drives random
sequences of checks, accepts and restarts around the window edges.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pqiot.fuzz.profiles import stateful_settings
from pqiot.reference import pubsub
from pqiot.reference.records.replay import ReplayWindow

MAX_SSN = (1 << 40) - 1


class WindowModel:
    def __init__(self, size: int) -> None:
        self.size = size
        self.accepted: set[int] = set()
        self.blocked_up_to = -1  # every p <= this is a replay (restart bound)
        self.top: int | None = None

    def fresh(self, p: int) -> bool:
        if p < 0:
            return False
        if self.top is None or p > self.top:
            return True
        return self.top - p < self.size and p not in self.accepted and p > self.blocked_up_to

    def accept(self, p: int) -> None:
        self.accepted.add(p)
        self.top = p if self.top is None else max(self.top, p)

    def restart_from(self, bound: int) -> None:
        if self.top is not None and bound <= self.top:
            return
        self.blocked_up_to = max(self.blocked_up_to, bound)
        self.top = bound


class RecordReplayWindowMachine(RuleBasedStateMachine):
    """records.replay.ReplayWindow (W >= 64, REQ-REPLAY-001..005, 009)."""

    @initialize(size=st.sampled_from([64, 65, 128]))
    def create(self, size: int) -> None:
        self.window = ReplayWindow(size)
        self.model = WindowModel(size)

    def candidate(self, data: st.DataObject) -> int:
        top = self.model.top or 0
        return data.draw(
            st.one_of(
                st.integers(top - self.model.size - 2, top + self.model.size + 2),
                st.sampled_from([0, 1, top, top + 1, top - self.model.size + 1, MAX_SSN]),
                st.integers(0, MAX_SSN),
            ).filter(lambda p: p >= -1)
        )

    @rule(data=st.data())
    def check_then_accept_if_fresh(self, data: st.DataObject) -> None:
        p = self.candidate(data)
        fresh = self.window.check(p)
        assert fresh == self.model.fresh(p), f"check({p}) with top {self.model.top}"
        if fresh:
            self.window.accept(p)
            self.model.accept(p)

    @rule(data=st.data())
    def check_only(self, data: st.DataObject) -> None:
        """A record that fails decryption: checked but never accepted (REQ-REC-009)."""
        p = self.candidate(data)
        assert self.window.check(p) == self.model.fresh(p)

    @rule(data=st.data())
    def restart_from_persisted_bound(self, data: st.DataObject) -> None:
        """REQ-REPLAY-009: a restarted recipient rejects every PIV <= the stored bound."""
        bound = data.draw(st.integers(0, (self.model.top or 0) + 200))
        self.window.reject_up_to(bound)
        self.model.restart_from(bound)

    @invariant()
    def top_matches(self) -> None:
        if hasattr(self, "window"):
            assert self.window.highest == self.model.top


class PubSubReplayWindowMachine(RuleBasedStateMachine):
    """pubsub.ReplayWindow (per (kid, topic), any size >= 1, spec chapter 8)."""

    @initialize(size=st.integers(1, 70))
    def create(self, size: int) -> None:
        self.window = pubsub.ReplayWindow(size)
        self.model = WindowModel(size)

    @rule(data=st.data())
    def check_then_accept_if_fresh(self, data: st.DataObject) -> None:
        top = self.model.top or 0
        seq = data.draw(
            st.one_of(
                st.integers(max(0, top - self.model.size - 2), top + self.model.size + 2),
                st.integers(0, (1 << 64) - 1),
            )
        )
        fresh = self.window.check(seq) is None
        assert fresh == self.model.fresh(seq)
        if fresh:
            self.window.accept(seq)
            self.model.accept(seq)

    @invariant()
    def top_matches(self) -> None:
        if hasattr(self, "window"):
            assert self.window.highest == self.model.top


TestRecordReplayWindow = RecordReplayWindowMachine.TestCase
TestRecordReplayWindow.settings = stateful_settings(scale=3)
TestPubSubReplayWindow = PubSubReplayWindowMachine.TestCase
TestPubSubReplayWindow.settings = stateful_settings(scale=3)


def test_window_example_of_req_replay_004() -> None:
    """REQ-REPLAY-004's own example: after 10 and 8, 9 once, 8 never, top-64 never."""
    window = ReplayWindow(64)
    for p in (10, 8):
        window.accept(p)
    assert window.check(9)
    window.accept(9)
    assert not window.check(9)
    assert not window.check(8)
    window.accept(100)
    assert not window.check(100 - 64)
    assert window.check(100 - 63)
