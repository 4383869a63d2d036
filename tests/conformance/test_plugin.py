"""The pytest plugin: outcome classification, journal lines, markers, applicability skips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: The plugin, without the plugins a certification run switches off (they cost seconds).
FAST = ("-p", "pqiot.conformance.plugin", "-p", "no:hypothesispytest", "-p", "no:benchmark")

SUITE = """
import pytest
from pqiot.hil.client import StatusError

@pytest.mark.requirement("REQ-HS-004")
def test_device_behaves(device):
    assert device.alive()

@pytest.mark.requirement("REQ-HS-005")
def test_device_misbehaves(device):
    assert 1 == 2, "device said 2"

@pytest.mark.requirement("REQ-HS-006")
def test_device_status(device):
    raise StatusError(81, 3, {"error": "unsupported"})

@pytest.mark.requirement("REQ-HS-007")
def test_link_lost(device):
    raise ConnectionResetError("link lost")

@pytest.mark.requirement("REQ-MQTT-001")
def test_mqtt_only(device):
    raise AssertionError("must not run: MQTT is not declared by host-ref")

@pytest.mark.requirement("REQ-HS-008")
def test_parametrized(device, suite, device_role):
    assert suite in device.statement.suites
"""


def run(pytester: pytest.Pytester, out: Path, *extra: str) -> list[dict[str, object]]:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest_subprocess(*FAST, "--target", "host-ref", "--out", str(out), *extra)
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    return [e for e in lines if e["event"] == "result"]


def test_outcomes_are_classified_and_journaled(pytester: pytest.Pytester, tmp_path: Path) -> None:
    results = {
        str(e["nodeid"]).split("::")[1]: e
        for e in run(pytester, tmp_path / "o", "-k", "not parametrized")
    }
    assert results["test_device_behaves"]["outcome"] == "passed"
    assert results["test_device_misbehaves"]["outcome"] == "failed"
    assert "device said 2" in str(results["test_device_misbehaves"]["detail"])
    assert results["test_device_status"]["outcome"] == "failed", "a TAP status is device behaviour"
    assert results["test_link_lost"]["outcome"] == "blocked", "a harness problem is never a fail"
    assert results["test_mqtt_only"]["outcome"] == "skipped"
    assert "not applicable" in str(results["test_mqtt_only"]["detail"])
    for entry in results.values():
        assert (tmp_path / "o" / str(entry["log"])).is_file()


def test_suite_and_role_follow_the_statement(pytester: pytest.Pytester, tmp_path: Path) -> None:
    results = run(pytester, tmp_path / "o", "-k", "parametrized")
    params = {(e["params"]["suite"], e["params"]["device_role"]) for e in results}  # type: ignore[index]
    assert len(params) == 20, "10 declared suites x 2 declared roles of host-ref"
    assert all(e["outcome"] == "passed" for e in results)


def test_a_test_without_requirements_is_refused(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_bad="def test_x(device):\n    pass\n")
    result = pytester.runpytest_subprocess(
        *FAST, "--target", "host-ref", "--out", str(tmp_path / "o")
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*must name its REQ IDs*"])


CONVERSATION = """
import pytest

@pytest.fixture
def sanity_after(device):
    yield
    assert False, "the device did not survive"

@pytest.mark.conversation
@pytest.mark.requirement("REQ-HS-004")
def test_body_ok_but_device_died(device, sanity_after):
    pass

@pytest.mark.conversation
@pytest.mark.requirement("REQ-HS-005")
def test_body_fails(device):
    assert False, "wrong alert"
"""


def test_conversation_failures_are_attributed(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Body failure -> the test's own REQs; failure after the body -> REQ-ERR-007/TAP-005."""
    pytester.makepyfile(test_conv=CONVERSATION)
    out = tmp_path / "o"
    pytester.runpytest_subprocess(*FAST, "--target", "host-ref", "--out", str(out))
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    results = {str(e["nodeid"]).split("::")[1]: e for e in lines if e["event"] == "result"}
    died = results["test_body_ok_but_device_died"]
    assert died["outcome"] == "failed"
    assert died["failed_requirements"] == ["REQ-ERR-007", "REQ-TAP-005"]
    assert set(died["requirements"]) == {"REQ-HS-004", "REQ-ERR-007", "REQ-TAP-005"}
    assert results["test_body_fails"]["failed_requirements"] == ["REQ-HS-005"]
