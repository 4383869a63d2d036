"""A deliberately broken device fails exactly the requirements it breaks, and nothing else.

The "device" is the reference agent with its replay check disabled (the
in-process analogue of a firmware built without the replay check). The
suite's replay, tamper and handshake conversations run against it; only the
replay-window requirements may fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pqiot.conformance.certify import SUITE_DIR

BROKEN = """
from pqiot.reference.records.replay import ReplayWindow


def pytest_configure(config):
    # The broken build: every PIV passes the replay check.
    ReplayWindow.check = lambda self, sequence_number: True
"""

EXPECTED_FAILURES = {"REQ-REPLAY-001", "REQ-REPLAY-002", "REQ-REPLAY-003", "REQ-REPLAY-004"}


def test_replay_check_disabled_fails_exactly_the_replay_requirements(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(broken_replay=BROKEN)
    out = tmp_path / "o"
    pytester.runpytest_subprocess(
        str(SUITE_DIR),
        "-c", str(SUITE_DIR / "pytest.ini"), "--rootdir", str(SUITE_DIR),
        "--confcutdir", str(SUITE_DIR),
        "-p", "broken_replay", "-p", "pqiot.conformance.plugin",
        "--target", "host-ref", "--out", str(out),
        "-k", "replayed or reordered or tampered_record or (handshake_records and suite-102)",
    )  # fmt: skip
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    results = [e for e in lines if e["event"] == "result"]
    assert len(results) == 5, [e["nodeid"] for e in results]
    failed: set[str] = set()
    for entry in results:
        if entry["outcome"] == "failed":
            failed |= set(entry["failed_requirements"] or entry["requirements"])
        else:
            assert entry["outcome"] == "passed", entry
    assert failed == EXPECTED_FAILURES
