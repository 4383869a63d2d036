"""Run one job on many targets in parallel: retries, health checks, a quarantine file.

One worker process per target (targets are independent devices; a hung DUT
cannot stall the others). For each target: skip it if quarantined; bring it
up and health-check it (retrying up to ``retries`` times); run the job
(retrying a BLOCKED or crashed attempt on a fresh bring-up); health-check it
again. A target that cannot be made healthy is quarantined with the reason,
so the next run skips it until someone clears it. Every target ends with a
verdict: PASS, FAIL or BLOCKED — a lost target is BLOCKED, never missing.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pqiot.hil.client import AgentClient
from pqiot.hil.runner import TargetRunner, TargetUnavailable
from pqiot.hil.targets import target
from pqiot.hil.verdict import Blocked, Verdict

__all__ = ["JOBS", "JobOutcome", "Quarantine", "TargetResult", "run_farm"]


@dataclass(frozen=True)
class JobOutcome:
    verdict: Verdict
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class TargetResult:
    target: str
    verdict: Verdict
    detail: str
    attempts: int = 0
    seconds: float = 0.0
    quarantined: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "quarantined": self.quarantined,
            "data": self.data,
            "log": self.log,
        }


Job = Callable[[TargetRunner, AgentClient], JobOutcome]

# -- built-in jobs ------------------------------------------------------------------------

#: REQ-TAP-012, ML-KEM-768, n = 100 (Go crypto/mlkem TestAccumulated).
ACCUMULATED_768_100 = "1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415"


def job_identify(runner: TargetRunner, client: AgentClient) -> JobOutcome:
    identity = client.identify()
    product, firmware = str(identity.get("product")), str(identity.get("firmware"))
    return JobOutcome(Verdict.PASS, f"{product} {firmware}")


def job_accumulated(runner: TargetRunner, client: AgentClient) -> JobOutcome:
    digest = client.accumulated("ml-kem-768", 100).hex()
    verdict = Verdict.PASS if digest == ACCUMULATED_768_100 else Verdict.FAIL
    return JobOutcome(
        verdict, f"ACCUMULATED ml-kem-768 n=100 -> {digest[:16]}…", {"digest": digest}
    )


#: Jobs the CLI can name; any other job is "module:function".
JOBS: dict[str, str] = {
    "identify": "pqiot.hil.farm:job_identify",
    "accumulated": "pqiot.hil.farm:job_accumulated",
}


def _resolve(job: str) -> Job:
    module, _, name = JOBS.get(job, job).partition(":")
    if not name:
        raise ValueError(f"job {job!r}: use one of {', '.join(JOBS)} or module:function")
    function: Job = getattr(importlib.import_module(module), name)
    return function


# -- quarantine -----------------------------------------------------------------------------


class Quarantine:
    """A JSON file ``{target: {"reason", "since", "attempts"}}``, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{self.path}: unreadable quarantine file ({exc}); fix or delete it"
            ) from None
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: a quarantine file is a JSON object")
        return data

    def _store(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".quarantine-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def add(self, name: str, reason: str, attempts: int) -> None:
        data = self.load()
        data[name] = {
            "reason": reason,
            "since": datetime.now(UTC).isoformat(),
            "attempts": attempts,
        }
        self._store(data)

    def clear(self, name: str | None = None) -> None:
        data = {} if name is None else {k: v for k, v in self.load().items() if k != name}
        self._store(data)


# -- one target -------------------------------------------------------------------------------


def _attempt(name: str, job: Job, log: list[str]) -> tuple[JobOutcome | None, str | None]:
    """One bring-up + health + job + health. Returns (outcome, reason-to-retry)."""
    runner = TargetRunner(target(name))
    try:
        runner.up()
    except TargetUnavailable as exc:
        return None, f"bring-up failed: {exc}"
    client = runner.client()
    try:
        before = runner.health_check(client)
        if not before.healthy:
            return None, f"unhealthy before the run: {'; '.join(before.problems)}"
        outcome = job(runner, client)
        after = runner.health_check(client)
        if not after.healthy:
            log.append(f"unhealthy after the run: {'; '.join(after.problems)}")
            return outcome, f"unhealthy after the run: {'; '.join(after.problems)}"
        if client.recoveries:
            log.append(f"the DUT was recovered {client.recoveries} time(s) during the run")
        return outcome, None
    except Blocked as exc:
        return None, str(exc)
    except Exception as exc:
        log.append(traceback.format_exc(limit=3))
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
        runner.down()


def run_target(name: str, job_name: str, retries: int, quarantine_path: str | None) -> TargetResult:
    """Everything for one target; runs in its own worker process."""
    started = time.monotonic()
    quarantine = Quarantine(Path(quarantine_path)) if quarantine_path else None
    if quarantine is not None:
        entry = quarantine.load().get(name)
        if entry is not None:
            return TargetResult(
                name,
                Verdict.BLOCKED,
                f"quarantined: {entry.get('reason')}",
                quarantined=entry.get("reason"),
            )
    job = _resolve(job_name)
    log: list[str] = []
    reason = "not run"
    for attempt in range(1, retries + 2):
        outcome, reason_or_none = _attempt(name, job, log)
        if reason_or_none is None and outcome is not None:
            return TargetResult(
                name,
                outcome.verdict,
                outcome.detail,
                attempt,
                time.monotonic() - started,
                data=outcome.data,
                log=log,
            )
        reason = reason_or_none or "no outcome"
        log.append(f"attempt {attempt}: {reason}")
        if outcome is not None and outcome.verdict is Verdict.FAIL:
            break  # a genuine failure is not retried into a pass
        if attempt <= retries:
            time.sleep(min(2.0, 0.25 * attempt))  # let a rebooting board settle
    result = TargetResult(
        name, Verdict.BLOCKED, reason, retries + 1, time.monotonic() - started, log=log
    )
    if quarantine is not None:
        quarantine.add(name, reason, result.attempts)
        result.quarantined = reason
    return result


def run_farm(
    names: Sequence[str],
    job: str,
    *,
    retries: int = 1,
    quarantine: Path | None = None,
    workers: int | None = None,
) -> list[TargetResult]:
    """Run ``job`` on every target in parallel (one process each); results in ``names`` order."""
    for name in names:
        target(name)  # KeyError now, before any process starts
    _resolve(job)
    context = get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers or max(1, len(names)), mp_context=context) as pool:
        futures = [
            pool.submit(run_target, name, job, retries, str(quarantine) if quarantine else None)
            for name in names
        ]
        results = []
        for name, future in zip(names, futures, strict=True):
            try:
                results.append(future.result())
            except Exception as exc:  # the worker itself died: still a verdict
                results.append(TargetResult(name, Verdict.BLOCKED, f"worker failed: {exc}"))
        return results
