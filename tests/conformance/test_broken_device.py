"""A deliberately broken device fails exactly the requirements it breaks, and nothing else.

Two broken devices, both without the record replay check (receiving step 3 of §7.4):

* the reference agent with ``ReplayWindow.check`` patched out (in process, target host-ref);
* the reference firmware built with ``-DPQIOT_BROKEN_NO_REPLAY_CHECK`` (``make
  firmware-broken``, target host-fw-broken-replay), which compiles that step out of
  targets/firmware/src/records.c and changes nothing else.

What the spec says such a device violates (chapter 7 §7.6): REQ-REPLAY-002 (a replay must be
dropped with ``replay_detected``) and REQ-REPLAY-004 (PIV 8 a second time and PIV <= top - 64
must be rejected), and on a device that persists its contexts REQ-REPLAY-009 (after a
restart every PIV <= P_r is a replay). Keeping and updating the window (REQ-REPLAY-001, -003)
and storing P_r ahead (REQ-REPLAY-008, REQ-KS-008) are observable only through what the window
later rejects: a black-box test cannot tell a window that is never consulted from one that is
never kept, updated or restored, so the conversations that name them together fail them
together. Every other check (decoding, context selection, the tag, epochs, REQ-REC-009's
update-after-decryption order, the sender's bound, count_v, the subscriber's own window) is
untouched and must still pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pqiot.conformance.certify import SUITE_DIR
from pqiot.hil.runner import TargetRunner, repo_root
from pqiot.hil.targets import target

BROKEN = """
from pqiot.reference.records.replay import ReplayWindow


def pytest_configure(config):
    # The broken build: every PIV passes the replay check.
    ReplayWindow.check = lambda self, sequence_number: True
"""

EXPECTED_FAILURES = {"REQ-REPLAY-001", "REQ-REPLAY-002", "REQ-REPLAY-003", "REQ-REPLAY-004"}
#: The firmware declares persistent contexts, so its restored windows are tested too.
FIRMWARE_EXPECTED_FAILURES = EXPECTED_FAILURES | {"REQ-REPLAY-008", "REQ-REPLAY-009", "REQ-KS-008"}

#: Every suite conversation that feeds the device records (replays, reordering, tampering,
#: truncation, other contexts, content types, close, key updates, restored contexts and
#: windows after a power cycle), without the two that only wait for real-time protocol
#: timers (10 s and 8 s).
RECORD_TESTS = (
    "test_negative.py or test_records.py or test_handshake.py or test_persistence.py or "
    "(test_key_update.py and not unanswered_key_update and not limit_v)"
)
#: The audit scenarios replay a record to provoke ``replay_dropped``.
AUDIT_TESTS = "test_audit.py"
NORMAL = "host-fw"
BROKEN_FW = "host-fw-broken-replay"
FIRMWARE_SOURCES = ("targets/firmware/src", "targets/firmware/platform/host")

Certify = Callable[[str, str], dict[str, Any]]


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
        "-k", "(test_negative.py and (replayed or reordered or tampered_record))"
              " or (handshake_records and suite-102)",
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


# -- the firmware built without the replay check ----------------------------------------------


def _image(name: str) -> Path:
    """The target's image; skip (with the build command) when it is missing or older than the
    firmware sources, since a stale image would be judged on code it does not contain."""
    description = target(name)
    image = TargetRunner(description).image_path()
    assert image is not None, f"{name} names no firmware image"
    if not image.exists():
        pytest.skip(f"{image} is missing; run `{description.firmware.build}`")
    root = repo_root()
    newest = max(
        (p for d in FIRMWARE_SOURCES for p in (root / d).iterdir() if p.suffix in (".c", ".h")),
        key=lambda p: p.stat().st_mtime,
    )
    if newest.stat().st_mtime > image.stat().st_mtime:
        pytest.skip(f"{image} is older than {newest.name}; run `{description.firmware.build}`")
    return image


def test_broken_target_differs_from_host_fw_only_in_its_image() -> None:
    """Launch, transport, statement, clock and timeouts are host-fw's, so any verdict that
    differs between the two runs comes from the compiled-out check, not from the setup."""
    normal, broken = target(NORMAL), target(BROKEN_FW)
    same = ("kind", "transport", "conformance", "launch", "probe", "clock", "memory", "timeouts")
    assert {k: getattr(broken, k) for k in same} == {k: getattr(normal, k) for k in same}
    assert broken.firmware.image != normal.firmware.image
    assert broken.declarations is None, "a deliberately broken build declares nothing"


def _failed(report: dict[str, Any]) -> set[str]:
    return {r["id"] for r in report["requirements"] if r["verdict"] == "fail"}


@pytest.fixture(scope="module")
def certify(tmp_path_factory: pytest.TempPathFactory) -> Certify:
    """`pqiot certify --target NAME -k SELECTION`, once per (target, selection) in this module."""
    reports: dict[tuple[str, str], dict[str, Any]] = {}

    def run(name: str, selection: str) -> dict[str, Any]:
        if (name, selection) not in reports:
            _image(name)
            out = tmp_path_factory.mktemp(name) / "run"
            done = subprocess.run(
                [sys.executable, "-m", "pqiot.cli", "certify", "--target", name,
                 "--out", str(out), "-k", selection],
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            path = out / "report.json"
            assert path.is_file(), done.stdout[-2000:] + done.stderr[-2000:]
            report: dict[str, Any] = json.loads(path.read_text())
            # A harness problem must not pass for a device verdict (or hide one).
            assert report["summary"]["blocked"] == 0, done.stdout[-2000:]
            reports[name, selection] = report
        return reports[name, selection]

    return run


def test_normal_firmware_passes_the_same_conversations(certify: Certify) -> None:
    """The control: host-fw fails nothing in either selection and passes every requirement the
    broken build must fail."""
    report = certify(NORMAL, f"{RECORD_TESTS} or {AUDIT_TESTS}")
    assert _failed(report) == set()
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    expected = FIRMWARE_EXPECTED_FAILURES
    assert {r: verdicts[r] for r in expected} == dict.fromkeys(expected, "pass")


def test_firmware_without_the_replay_check_fails_exactly_the_replay_requirements(
    certify: Certify,
) -> None:
    """REQ-REPLAY-001..004, -008, -009 and REQ-KS-008 fail; every other requirement of the
    record conversations passes."""
    report = certify(BROKEN_FW, RECORD_TESTS)
    assert _failed(report) == FIRMWARE_EXPECTED_FAILURES
    assert report["summary"]["pass"] > 20, "the record conversations ran and passed elsewhere"


def test_firmware_without_the_replay_check_fails_no_audit_requirement(certify: Certify) -> None:
    """Chapter 9 asks for events when a condition occurs (REQ-AUDIT-005); a device that never
    detects a replay emits no ``replay_dropped`` but breaks no audit requirement."""
    report = certify(BROKEN_FW, AUDIT_TESTS)
    assert _failed(report) == set()
