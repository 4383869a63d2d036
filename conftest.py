"""Repository-wide pytest hooks.

The default marker expression (pyproject.toml) leaves out slow, hardware and
long-fuzz tests to keep CI inside its time budget. A test left out silently
looks like a test that passed, so every run ends by stating how many tests each
marker left out and why (the reason is the marker's registered description).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import pytest

# pytester drives inner pytest runs for the tests of these hooks.
pytest_plugins = ("pytester",)

_DESELECTED = pytest.StashKey[Counter[str]]()
_DESELECTED_ITEMS = pytest.StashKey[int]()
_NO_MARKER = "left out by the -k/-m expression itself, not by a marker it names"


def registered_markers(config: pytest.Config) -> dict[str, str]:
    """Map each marker registered in the ini file to its description."""
    markers: dict[str, str] = {}
    for line in config.getini("markers"):
        name, _, description = str(line).partition(":")
        markers[name.split("(")[0].strip()] = description.strip()
    return markers


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_DESELECTED] = Counter()
    config.stash[_DESELECTED_ITEMS] = 0


def markers_in_expression(config: pytest.Config) -> set[str]:
    """Registered markers the ``-m`` expression names: the ones that can deselect."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", config.getoption("markexpr") or ""))
    return words & registered_markers(config).keys()


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    if not items:
        return
    config = items[0].config
    relevant = markers_in_expression(config)
    counts = config.stash[_DESELECTED]
    config.stash[_DESELECTED_ITEMS] += len(items)
    for item in items:
        names = sorted({m.name for m in item.iter_markers() if m.name in relevant})
        counts.update(names or [_NO_MARKER])


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    counts = config.stash.get(_DESELECTED, Counter())
    if not counts:
        return
    known = registered_markers(config)
    markexpr = config.getoption("markexpr") or ""
    title = "deselected tests"
    if markexpr:
        title += f" (-m {markexpr!r})"
    terminalreporter.write_sep("=", title)
    for name, count in sorted(counts.items()):
        reason = known.get(name, "")
        line = f"{count} marked {name}: {reason}" if reason else f"{count} {name}"
        terminalreporter.write_line(line)
    if counts.total() > config.stash[_DESELECTED_ITEMS]:
        terminalreporter.write_line("(a test with several markers counts under each)")
