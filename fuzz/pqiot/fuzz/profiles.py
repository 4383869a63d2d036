"""Hypothesis settings for the fuzz tests: few examples in CI, many with HYPOTHESIS_PROFILE=long.

The settings are built on demand and applied per test, never loaded as the
global profile, so other test folders keep their own Hypothesis defaults.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["fuzz_settings", "profile_name", "stateful_settings"]

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
_EXAMPLES = {"ci": 30, "long": 3000}


def profile_name() -> str:
    """``long`` when HYPOTHESIS_PROFILE=long, else ``ci``."""
    return "long" if os.environ.get("HYPOTHESIS_PROFILE") == "long" else "ci"


def fuzz_settings(scale: float = 1.0) -> settings:
    """Settings for a property test; ``scale`` < 1 for tests whose examples are expensive.

    CI runs are derandomized so that a red build is reproducible; long runs explore.
    """
    name = profile_name()
    return settings(
        max_examples=max(5, int(_EXAMPLES[name] * scale)),
        deadline=None,
        suppress_health_check=_SLOW_OK,
        derandomize=name == "ci",
        database=None if name == "ci" else settings().database,
    )


def stateful_settings(scale: float = 1.0) -> settings:
    """Settings for a RuleBasedStateMachine: each example is a whole run of rules."""
    name = profile_name()
    return settings(
        fuzz_settings(scale / 3),
        stateful_step_count=25 if name == "ci" else 60,
    )
