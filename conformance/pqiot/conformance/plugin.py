"""The pytest plugin behind ``pqiot certify``: ``pytest -p pqiot.conformance.plugin --target NAME``.

It is inactive unless ``--target`` is given. With a target it: brings the
device up once per run and rejects an inconsistent conformance statement before
testing (REQ-CONF-003); parametrizes ``suite`` and ``device_role`` over what the
device declares; skips tests whose requirements do not apply (§14.3); writes a
durable journal line before and after every test (``--out``); skips tests that
already have a result with ``--resume``; and prints one progress line per test.
"""

from __future__ import annotations

import re
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from pqiot.conformance.applicability import not_applicable_reason
from pqiot.conformance.device import Device, DeviceUnavailable, open_device
from pqiot.conformance.journal import JOURNAL_NAME, Journal, read_journal
from pqiot.conformance.requirements import load_catalogue
from pqiot.hil.client import StatusError

_DEVICE = pytest.StashKey["Device"]()
_STACK = pytest.StashKey[ExitStack]()
_JOURNAL = pytest.StashKey[Journal]()
_OUT = pytest.StashKey[Path]()
_PHASES = pytest.StashKey[dict[str, pytest.TestReport]]()
_EVIDENCE = pytest.StashKey[dict[str, Any]]()
_METRICS = pytest.StashKey[list[dict[str, Any]]]()
_PROGRESS = pytest.StashKey[list[int]]()

#: Exceptions that mean "the device did not behave as required" (everything else is BLOCKED).
DEVICE_FAILURES = (AssertionError, StatusError)
_EDHOC_ROLES = ("initiator", "responder")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pqiot", "pqiot conformance")
    group.addoption("--target", help="target name (targets/*.toml); activates the plugin")
    group.addoption("--out", default="reports/certify", help="output directory of the run")
    group.addoption("--resume", action="store_true", help="skip tests that already have a result")
    group.addoption(
        "--transport",
        choices=("auto", "in-process", "tap"),
        default="auto",
        help="auto: host-ref in process, every other target through the HIL harness",
    )
    group.addoption(
        "--measure",
        action="store_true",
        help="after the tests, measure footprint, primitives and handshakes (report metrics)",
    )


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("--target", default=None))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): REQ IDs of the spec this test checks")
    config.addinivalue_line("markers", "interop: a reference <-> device interop cell")
    config.addinivalue_line(
        "markers", "conversation: negative test; sanity handshakes run before and after"
    )
    if not _active(config):
        return
    target = str(config.getoption("--target"))
    out = Path(str(config.getoption("--out")))
    transport = str(config.getoption("--transport"))
    stack = ExitStack()
    try:
        device = stack.enter_context(
            open_device(
                target, in_process=None if transport == "auto" else transport == "in-process"
            )
        )
    except DeviceUnavailable as exc:
        stack.close()
        raise pytest.UsageError(f"target {target!r} is not available: {exc}") from None
    from pqiot.hil.conformance import ConformanceStatement, statement_problems

    problems = statement_problems(ConformanceStatement.from_identity(device.identity))
    if problems:
        stack.close()
        raise pytest.UsageError(
            f"target {target!r} declares an inconsistent conformance statement "
            f"(REQ-CONF-003; nothing was tested): " + "; ".join(problems)
        )
    config.stash[_STACK] = stack
    config.stash[_DEVICE] = device
    config.stash[_OUT] = out
    journal = Journal(out / JOURNAL_NAME)
    config.stash[_JOURNAL] = journal
    stack.callback(journal.close)
    catalogue = load_catalogue()
    journal.write(
        {
            "event": "run",
            "time": time.time(),
            "target": target,
            "transport": device.mode,
            "identity": device.identity,
            "description": device.description,
            "spec_version": catalogue.spec_version,
            "resume": bool(config.getoption("--resume")),
            "args": list(config.invocation_params.args),
        }
    )
    config.stash[_PROGRESS] = [0, 0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Measure while the device is still up; the verdicts are already in the journal."""
    config = session.config
    if _JOURNAL not in config.stash or not config.getoption("--measure"):
        return
    from pqiot.conformance.metrics import measure_after_tests

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    measure_after_tests(
        config.stash[_DEVICE],
        config.stash[_JOURNAL].write,
        config.stash[_OUT] / JOURNAL_NAME,
        interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
        say=reporter.write_line if reporter is not None else lambda _line: None,
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_STACK, None)
    if stack is not None:
        stack.close()


# -- fixtures the suite uses ---------------------------------------------------------


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> Device:
    """The device under test (only with ``--target``)."""
    if _DEVICE not in request.config.stash:
        pytest.skip("conformance tests need --target NAME (pqiot certify)")
    return request.config.stash[_DEVICE]


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A map the test fills with what it observed; it goes into report.json."""
    store: dict[str, Any] = {}
    request.node.stash[_EVIDENCE] = store
    return store


@pytest.fixture
def metrics(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """Append ``{"name", "value", "unit", ...labels}``; collected into report.json metrics."""
    store: list[dict[str, Any]] = []
    request.node.stash[_METRICS] = store
    return store


# -- collection ----------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if _DEVICE not in config.stash:
        return
    device = config.stash[_DEVICE]
    if "suite" in metafunc.fixturenames:
        suites = [s for s in device.statement.suites]
        suites.sort(key=lambda s: (s != -102, -s))
        metafunc.parametrize("suite", suites, ids=[f"suite{s}" for s in suites])
    if "device_role" in metafunc.fixturenames:
        roles = [r for r in _EDHOC_ROLES if r in device.statement.roles]
        metafunc.parametrize("device_role", roles)


#: What the sanity handshakes around a negative conversation check (tlsfuzzer's rule).
SURVIVAL_REQUIREMENTS = ("REQ-ERR-007", "REQ-TAP-005")


def explicit_requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(str(a) for a in mark.args)
    return tuple(dict.fromkeys(ids))


def requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    """The test's REQ IDs; a conversation also checks survival (its sanity handshakes)."""
    ids = explicit_requirement_ids(item)
    if item.get_closest_marker("conversation") is not None:
        ids = tuple(dict.fromkeys(ids + SURVIVAL_REQUIREMENTS))
    return ids


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not _active(config) or _DEVICE not in config.stash:
        return
    catalogue = load_catalogue()
    statement = config.stash[_DEVICE].statement
    unknown = sorted({r for item in items for r in requirement_ids(item) if r not in catalogue})
    if unknown:
        raise pytest.UsageError(f"tests name requirements the spec does not define: {unknown}")
    keep: list[pytest.Item] = []
    done: list[pytest.Item] = []
    finished = read_journal(config.stash[_OUT] / JOURNAL_NAME).results
    for item in items:
        ids = explicit_requirement_ids(item)
        if not ids:
            raise pytest.UsageError(f"{item.nodeid}: a conformance test must name its REQ IDs")
        if config.getoption("--resume") and item.nodeid in finished:
            done.append(item)
            continue
        reasons = [not_applicable_reason(catalogue.get(r), statement) for r in ids]
        if all(reason is not None for reason in reasons):
            item.add_marker(pytest.mark.skip(reason=f"not applicable: {reasons[0]}"))
        keep.append(item)
    if done:
        config.hook.pytest_deselected(items=done)
    items[:] = keep
    config.stash[_PROGRESS] = [0, len(keep)]


# -- running -------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    config = item.config
    if _JOURNAL not in config.stash:
        return
    item.stash[_PHASES] = {}
    item.stash[_EVIDENCE] = {}
    item.stash[_METRICS] = []
    config.stash[_JOURNAL].write({"event": "start", "nodeid": item.nodeid, "time": time.time()})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if _JOURNAL not in item.config.stash or _PHASES not in item.stash:
        return
    phases = item.stash[_PHASES]
    phases[report.when] = report
    if call.excinfo is not None and not report.skipped:
        kind = "failed" if call.excinfo.errisinstance(DEVICE_FAILURES) else "blocked"
        phases[f"{report.when}-kind"] = kind  # type: ignore[assignment]
        phases[f"{report.when}-message"] = call.excinfo.exconly()[:500]  # type: ignore[assignment]
    if report.when == "teardown":
        _finish(item)


def _failed_requirements(item: pytest.Item) -> list[str]:
    """Which REQ IDs a failed conversation failed: its own (body) or survival (sanity after)."""
    phases: dict[str, Any] = item.stash[_PHASES]
    if item.get_closest_marker("conversation") is None:
        return []
    body = phases.get("call") is not None and phases["call"].failed
    after = phases.get("teardown") is not None and phases["teardown"].failed
    if body and not after:
        return list(explicit_requirement_ids(item))
    if after and not body:
        return list(SURVIVAL_REQUIREMENTS)
    return []


def _classify(item: pytest.Item) -> tuple[str, str]:
    phases: dict[str, Any] = item.stash[_PHASES]
    for when in ("setup", "call", "teardown"):
        report = phases.get(when)
        if report is None:
            continue
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            return "skipped", str(reason).removeprefix("Skipped: ")
        if report.failed:
            kind = phases.get(f"{when}-kind", "blocked")
            # A harness failure while preparing the test is never the device's fault.
            if when == "setup" and kind == "failed":
                kind = "blocked"
            message = phases.get(f"{when}-message") or report.longreprtext.strip()
            return kind, f"{when}: {message}"
    return "passed", ""


def _safe(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:180]


def _finish(item: pytest.Item) -> None:
    config = item.config
    phases: dict[str, Any] = item.stash[_PHASES]
    outcome, detail = _classify(item)
    duration = sum(r.duration for k, r in phases.items() if isinstance(r, pytest.TestReport))
    log_name = f"logs/{_safe(item.nodeid)}.log"
    log_path = config.stash[_OUT] / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"test: {item.nodeid}",
        f"outcome: {outcome}",
        f"requirements: {', '.join(requirement_ids(item))}",
    ]
    for when in ("setup", "call", "teardown"):
        report = phases.get(when)
        if report is None:
            continue
        for title, content in report.sections:
            lines += [f"--- {title} ---", content]
        if report.longreprtext:
            lines += [f"--- {when} ---", report.longreprtext]
    log_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    interop = item.get_closest_marker("interop")
    callspec = getattr(item, "callspec", None)
    params = dict(callspec.params) if callspec is not None else {}
    entry = {
        "event": "result",
        "nodeid": item.nodeid,
        "outcome": outcome,
        "detail": detail,
        "requirements": list(requirement_ids(item)),
        "failed_requirements": _failed_requirements(item) if outcome == "failed" else [],
        "duration": round(duration, 6),
        # Where the time went: setup and teardown hold a conversation's sanity handshakes.
        "phases": {
            when: round(report.duration, 6)
            for when, report in phases.items()
            if isinstance(report, pytest.TestReport)
        },
        "time": time.time(),
        "log": log_name,
        "evidence": item.stash.get(_EVIDENCE, {}),
        "metrics": item.stash.get(_METRICS, []),
        "params": {k: v for k, v in params.items() if isinstance(v, int | str)},
        "interop": dict(interop.kwargs) if interop is not None else None,
    }
    config.stash[_JOURNAL].write(entry)
    progress = config.stash[_PROGRESS]
    progress[0] += 1
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"[{progress[0]:>3}/{progress[1]}] {outcome.upper():<8} "
            f"{duration:6.2f} s  {item.nodeid}"
        )


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """No progress dots: the plugin prints one line per finished test instead."""
    if not _active(config) or report.when != "call":
        return None
    return report.outcome, "", report.outcome.upper()
