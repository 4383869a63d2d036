"""Measurements taken in a certification run: the figures of ``pqiot bench``, in the report.

After the conformance tests, while the device is still up (same session, no
second boot), the plugin measures what ``pqiot bench`` measures, with a small
fixed number of runs: per-primitive cost and peak stack of the declared
primitives (cycles, or QEMU's instruction proxy, or host wall clock: the unit the
agent's MEASURE gives, never converted), the device's cost per declared suite
and role with the bytes on the wire, the static footprint from the ELF image,
and the environment the figures were taken in. The measuring code is the bench's
(:mod:`pqiot.bench`); this module only plans, guards and records.

Every figure is attempted on its own: one that cannot be collected becomes an
error entry saying which and why, and never touches the verdicts, which are in
the journal before measuring starts. The result is one ``measurements`` line in
the journal, so the report can be rebuilt from the journal alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pqiot.bench.handshake import measure_handshakes
from pqiot.bench.image import image_figures
from pqiot.bench.primitives import measure_primitives
from pqiot.bench.report import metric_from_samples
from pqiot.bench.run import (
    BenchOptions,
    clock_of,
    handshake_metrics,
    handshake_ratios,
    measure_declaration,
    plan_measurements,
)
from pqiot.bench.stats import DEFAULT_SPREAD_THRESHOLD
from pqiot.conformance.device import Device
from pqiot.hil.agent_client import AgentError

__all__ = [
    "EVENT",
    "MeasureSettings",
    "attach_measurements",
    "collect",
    "measure_after_tests",
    "not_run",
    "read_measurements",
    "report_metrics",
]

#: The journal event that carries the measurements of one invocation.
EVENT = "measurements"
#: Errors after which the device is not asked again: the link, not the figure, failed.
_LINK_ERRORS = (AgentError, OSError)
#: Cycle sources whose figure repeats exactly for the same input.
_DETERMINISTIC = ("qemu-icount",)
_T = TypeVar("_T")


@dataclass(frozen=True)
class MeasureSettings:
    """Few runs on purpose: a certification run shows the figures, ``pqiot bench`` gates them."""

    runs: int = 3
    #: runs on a deterministic counter (QEMU's instruction proxy repeats to one SysTick
    #: count): one more run adds link time over the emulated UART, not information
    deterministic_runs: int = 2
    warmup: int = 0
    sign_messages: int = 3
    handshake_runs: int = 1
    spread_threshold: float = DEFAULT_SPREAD_THRESHOLD


@dataclass
class _Attempts:
    """Runs each measurement step, turning any failure into an error entry."""

    errors: list[dict[str, str]] = field(default_factory=list)
    link_lost: str | None = None

    def run(self, name: str, group: str, step: Callable[[], _T]) -> _T | None:
        if self.link_lost is not None:
            self.errors.append(
                {
                    "metric": name,
                    "group": group,
                    "reason": f"not attempted: the device stopped answering ({self.link_lost})",
                }
            )
            return None
        try:
            return step()
        except Exception as exc:  # a failed figure must never stop the report
            reason = f"{type(exc).__name__}: {exc}"[:500]
            if isinstance(exc, _LINK_ERRORS):
                self.link_lost = reason
            self.errors.append({"metric": name, "group": group, "reason": reason})
            return None


def _description(name: str) -> Any:
    from pqiot.hil import targets

    return targets.target(name)


def _image_path(description: Any) -> Path | None:
    from pqiot.hil.runner import TargetRunner

    return TargetRunner(description).image_path()


def collect(
    device: Device,
    settings: MeasureSettings | None = None,
    *,
    description: Any = None,
    image: Path | None = None,
) -> dict[str, Any]:
    """Measure ``device`` (already up); return the ``measurements`` document (never raises).

    ``description`` (a :class:`~pqiot.hil.target_schema.TargetDescription`) and
    ``image`` default to the target file of ``device.name`` and its firmware image.
    """
    settings = settings or MeasureSettings()
    started = time.monotonic()
    attempts = _Attempts()
    notes: list[str] = []
    identity: dict[str, Any] = dict(device.identity)
    client = device.client
    if description is None:
        description = attempts.run("environment", "environment", lambda: _description(device.name))
    if image is None and description is not None:
        image = _image_path(description)
    options = BenchOptions(
        runs=settings.runs,
        warmup=settings.warmup,
        sign_messages=settings.sign_messages,
        spread_threshold=settings.spread_threshold,
    )
    prims, suites, plan_notes = plan_measurements(identity, options)
    declared = measure_declaration(identity)
    deterministic = declared.get("cycles") in _DETERMINISTIC
    runs = settings.deterministic_runs if deterministic else settings.runs
    notes += plan_notes
    threshold = settings.spread_threshold
    metrics: list[dict[str, Any]] = []
    for name in prims:
        samples = attempts.run(
            name,
            "primitive",
            lambda name=name: measure_primitives(  # type: ignore[misc]
                client,
                [name],
                runs=runs,
                warmup=settings.warmup,
                sign_messages=settings.sign_messages,
            ),
        )
        metrics += [metric_from_samples(s, threshold) for s in samples or []]
    for suite in suites:
        result = attempts.run(
            f"handshake {suite}",
            "handshake",
            lambda suite=suite: measure_handshakes(  # type: ignore[misc]
                client, [suite], runs=settings.handshake_runs, warmup=0
            ),
        )
        if result is None:
            continue
        if not result.samples:
            failed = [n for n in result.notes if "not measured" in n]
            reason = "; ".join(failed) or "no handshake completed"
            attempts.errors.append(
                {"metric": f"handshake {suite}", "group": "handshake", "reason": reason}
            )
            continue
        notes += [n for n in result.notes if n not in notes]
        metrics += handshake_metrics(result, threshold)
    if suites:
        same_code = str(identity.get("firmware")) != "reference"
        metrics += handshake_ratios(metrics, threshold, same_code)
    kind = str(getattr(description, "kind", "unknown"))
    figures = attempts.run("footprint", "footprint", lambda: image_figures(image, kind, metrics))
    if figures is not None:
        metrics += figures.metrics
        if figures.footprint is None and kind == "host" and image is not None:
            notes.append("host build: a native executable's sizes are not a device footprint")
        if image is None and device.mode == "in-process":
            notes.append("in-process reference: no firmware image, hence no footprint")
    units = sorted({m["unit"] for m in metrics if m["group"] == "primitive"})
    environment = {
        "target": device.name,
        "kind": kind,
        "transport": device.mode,
        "clock": clock_of(getattr(description, "clock", None), identity),
        "cycle_source": declared.get("cycles"),
        "unit": units[0] if len(units) == 1 else units,
        # without an image only the interpreted reference has a known "compiler"
        "compiler": figures.compiler if figures and (image or kind == "host") else None,
        "flags": figures.flags if figures and (image or kind == "host") else None,
        "image": str(image) if image is not None else None,
        "firmware": identity.get("firmware"),
        "stack_measured": declared.get("stack") == "paint",
    }
    status = ("partial" if metrics else "failed") if attempts.errors else "complete"
    return {
        "status": status,
        "reason": _reason(status, attempts.errors),
        "settings": asdict(settings) | {"primitives": prims, "suites": suites, "runs": runs},
        "environment": environment,
        "footprint": figures.footprint if figures is not None else None,
        "metrics": metrics,
        "errors": attempts.errors,
        "notes": notes,
        "duration_s": round(time.monotonic() - started, 2),
    }


def _reason(status: str, errors: list[dict[str, str]]) -> str:
    if status == "complete":
        return "every planned figure was collected"
    names = ", ".join(e["metric"] for e in errors)
    return f"{len(errors)} figure(s) could not be collected: {names}"


def not_run(reason: str) -> dict[str, Any]:
    """The document of a run that took no measurements, saying why."""
    return {
        "status": "not-run",
        "reason": reason,
        "settings": None,
        "environment": None,
        "footprint": None,
        "metrics": [],
        "errors": [],
        "notes": [],
        "duration_s": 0.0,
    }


def failed(reason: str, started: float) -> dict[str, Any]:
    """The document of a measurement phase that broke down as a whole (e.g. Ctrl-C)."""
    doc = not_run(reason)
    doc["status"] = "failed"
    doc["errors"] = [{"metric": "all", "group": "all", "reason": reason}]
    doc["duration_s"] = round(time.monotonic() - started, 2)
    return doc


def read_measurements(journal: Path) -> dict[str, Any] | None:
    """The last ``measurements`` event of ``journal`` (without its bookkeeping), or None."""
    if not journal.exists():
        return None
    found: dict[str, Any] | None = None
    with journal.open(encoding="utf-8") as stream:
        for line in stream:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            if isinstance(entry, dict) and entry.get("event") == EVENT:
                found = entry
    if found is None:
        return None
    return {k: v for k, v in found.items() if k not in ("event", "time")} | {
        "measured_at": found.get("time")
    }


def _headline(m: dict[str, Any]) -> float | int:
    return m["statistics"]["median"]  # type: ignore[no-any-return]


def report_metrics(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """``report.json`` ``metrics[]`` entries: each figure, then each figure that failed."""
    entries = [
        {**m, "value": _headline(m), "test": None, "source": "measurement"}
        for m in doc.get("metrics", [])
    ]
    entries += [
        {
            "name": e["metric"],
            "group": e["group"],
            "value": None,
            "unit": None,
            "test": None,
            "source": "measurement",
            "error": e["reason"],
        }
        for e in doc.get("errors", [])
    ]
    return entries


NOT_REQUESTED = (
    "no measurements in this run: `pqiot certify` measures on full runs; "
    "with -k or --no-measure it does not (pass --measure to force)"
)


def attach_measurements(report: dict[str, Any], journal: Path) -> None:
    """Add the run's measurements to ``report``: ``metrics[]`` entries and ``measurement``."""
    doc = read_measurements(journal) or not_run(NOT_REQUESTED)
    report["metrics"] = list(report.get("metrics", [])) + report_metrics(doc)
    report["measurement"] = {k: v for k, v in doc.items() if k != "metrics"}


def measure_after_tests(
    device: Device,
    write: Callable[[dict[str, Any]], None],
    journal: Path,
    *,
    interrupted: bool,
    say: Callable[[str], None] = lambda _line: None,
    settings: MeasureSettings | None = None,
) -> dict[str, Any] | None:
    """The plugin's measurement phase: collect, and ``write`` one journal event.

    Nothing is measured after an interrupted run (the device may be in any state)
    or when an earlier invocation of the same run (``--resume``) already measured
    everything. A Ctrl-C while measuring ends only the measuring.
    """
    if interrupted:
        return None
    earlier = read_measurements(journal)
    if earlier is not None and earlier.get("status") == "complete":
        say("measurements: already complete in this run (kept)")
        return None
    say("")  # end pytest's progress line
    say("measurements: footprint, primitives and handshakes of the declared suites ...")
    started = time.monotonic()
    try:
        doc = collect(device, settings)
    except KeyboardInterrupt:
        doc = failed("interrupted (Ctrl-C) while measuring", started)
    except Exception as exc:  # the verdicts are already safe in the journal
        doc = failed(f"the measurement phase failed: {type(exc).__name__}: {exc}", started)
    write({"event": EVENT, "time": time.time(), **doc})
    say(
        f"measurements: {doc['status']} ({len(doc['metrics'])} figures, "
        f"{len(doc['errors'])} not collected) in {doc['duration_s']:.1f} s"
    )
    return doc
