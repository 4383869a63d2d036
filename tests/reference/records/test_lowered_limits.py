"""Locally lowered usage limits (spec §7.9 REQ-KU-015, SESSION_START ``limits`` of §13.5)."""

from __future__ import annotations

import pytest

from pqiot.reference.records.limits import MIN_CONFIGURED_Q, limits_for, lowered


def test_lowered_limits_take_the_smaller_value_and_recompute_the_threshold() -> None:
    """REQ-KU-015: q 40 gives threshold 40 - 4 = 36; v is lowered independently."""
    ccm8 = limits_for(10)
    limits = lowered(ccm8, q=40, v=16)
    assert (limits.q, limits.v, limits.key_update_threshold) == (40, 16, 36)
    assert limits.max_message_bytes == ccm8.max_message_bytes


def test_configuration_never_raises_a_limit() -> None:
    """REQ-KU-015: a value above the table is capped to the table value (2^14 for CCM-8 v)."""
    ccm8 = limits_for(10)
    limits = lowered(ccm8, q=1 << 30, v=1 << 20)
    assert (limits.q, limits.v) == (1 << 20, 1 << 14)
    assert lowered(ccm8) == ccm8


@pytest.mark.parametrize(("q", "v"), [(MIN_CONFIGURED_Q - 1, None), (None, 0), (0, None)])
def test_unusable_limits_are_refused(q: int | None, v: int | None) -> None:
    """q below 20 leaves no room for the key_update record below limit_q; v 0 is meaningless."""
    with pytest.raises(ValueError, match="at least"):
        lowered(limits_for(3), q=q, v=v)
