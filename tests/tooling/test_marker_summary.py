"""The default test run leaves out slow/hardware/long-fuzz tests, and says so.

These run the repository's real conftest.py and pytest settings from
pyproject.toml in an inner pytest session, so a change to either that hides
deselected tests, or stops deselecting them, fails here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

SAMPLE_TESTS = """
import pytest

def test_plain():
    pass

@pytest.mark.network
def test_needs_broker():
    pass

@pytest.mark.slow
@pytest.mark.parametrize("suite", [-102])
def test_ten_thousand_runs(suite):
    pass

@pytest.mark.hardware
def test_on_board():
    pass

@pytest.mark.long_fuzz
def test_fuzz_campaign():
    pass
"""


def project_pytest_settings() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        settings: dict[str, Any] = tomllib.load(f)["tool"]["pytest"]["ini_options"]
    return settings


def marker_reason(name: str) -> str:
    for line in project_pytest_settings()["markers"]:
        marker, _, reason = line.partition(":")
        if marker.strip() == name:
            return str(reason.strip())
    raise AssertionError(f"marker {name!r} is not registered in pyproject.toml")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """An inner project with this repository's conftest and pytest settings."""
    settings = project_pytest_settings()
    # The inner runs need neither Hypothesis nor pytest-benchmark; loading them
    # anew in every inner session costs seconds.
    addopts = [*settings["addopts"], "-p", "no:hypothesispytest", "-p", "no:benchmark"]
    pytester.makeini(
        "[pytest]\n"
        f"addopts = {' '.join(_quote(a) for a in addopts)}\n"
        "markers =\n" + "".join(f"    {m}\n" for m in settings["markers"])
    )
    pytester.makeconftest((ROOT / "conftest.py").read_text())
    pytester.makepyfile(test_sample=SAMPLE_TESTS)
    return pytester


def _quote(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def test_default_run_leaves_out_slow_hardware_and_long_fuzz(project: pytest.Pytester) -> None:
    result = project.runpytest()
    result.assert_outcomes(passed=2, deselected=3)


def test_default_run_states_each_deselected_marker_with_its_reason(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest()
    result.stdout.fnmatch_lines(
        [
            "*deselected tests (-m 'not slow and not hardware and not long_fuzz')*",
            f"1 marked hardware: {marker_reason('hardware')}",
            f"1 marked long_fuzz: {marker_reason('long_fuzz')}",
            f"1 marked slow: {marker_reason('slow')}",
        ]
    )
    # Only the markers the expression names explain a deselection, not
    # incidental ones such as parametrize.
    assert "marked parametrize" not in result.stdout.str()


def test_deselection_by_k_is_stated_too(project: pytest.Pytester) -> None:
    result = project.runpytest("-k", "not plain")
    result.assert_outcomes(passed=1, deselected=4)
    result.stdout.fnmatch_lines(["1 left out by the -k/-m expression itself, *"])


def test_network_tests_run_by_default(project: pytest.Pytester) -> None:
    result = project.runpytest("-v")
    result.stdout.fnmatch_lines(["*test_needs_broker PASSED*"])


def test_m_slow_on_the_command_line_overrides_the_default(project: pytest.Pytester) -> None:
    result = project.runpytest("-m", "slow")
    result.assert_outcomes(passed=1, deselected=4)
    result.stdout.fnmatch_lines(["4 left out by the -k/-m expression itself, *"])


def test_run_with_nothing_deselected_prints_no_section(project: pytest.Pytester) -> None:
    result = project.runpytest("-m", "")
    result.assert_outcomes(passed=5)
    assert "deselected tests" not in result.stdout.str()


def test_unregistered_marker_is_an_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_typo="import pytest\n\n@pytest.mark.slwo\ndef test_x():\n    pass\n")
    result = project.runpytest("test_typo.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*'slwo' not found in `markers` configuration option*"])
