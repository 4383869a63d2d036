"""The benchmark report: environment, then one metric per figure, in the documented schema.

``docs/bench-schema.md`` is the contract; :func:`validate` checks a report against it
(the baseline reader and the tests use it), so a report that does not follow the
schema is rejected rather than half-compared.
"""

from __future__ import annotations

from typing import Any

from pqiot.bench.references import reference_for
from pqiot.bench.samples import OpSamples
from pqiot.bench.stats import summarize

__all__ = ["SCHEMA", "UNITS", "metric", "metric_from_samples", "validate"]

SCHEMA = "pqiot-bench/1"
UNITS = ("cycles", "instruction_proxy", "wall_clock_ns", "bytes", "ratio")
_ENVIRONMENT = ("target", "kind", "clock", "compiler", "flags", "git_revision", "firmware")
_STATISTICS = ("n", "min", "median", "mean", "max", "stdev", "cv", "spread")


def metric(
    name: str,
    group: str,
    unit: str,
    samples: list[float],
    *,
    threshold: float,
    stack_bytes: int | None = None,
    suite: int | None = None,
    role: str | None = None,
    flags: list[str] | None = None,
    notes: list[str] | None = None,
    check_spread: bool = True,
) -> dict[str, Any]:
    """One metric; flagged ``wide-spread`` when (max-min)/median exceeds ``threshold``."""
    stats = summarize(samples)
    all_flags = list(flags or [])
    if check_spread and stats.spread > threshold:
        all_flags.append("wide-spread")
    entry: dict[str, Any] = {
        "name": name,
        "group": group,
        "unit": unit,
        "statistics": stats.to_json(),
        "samples": [int(v) if float(v).is_integer() else v for v in samples],
        "stack_bytes": stack_bytes,
        "suite": suite,
        "role": role,
        "flags": all_flags,
        "notes": list(notes or []),
        "reference": None,
    }
    operation = name.removesuffix(" 4KiB")
    ref = reference_for(operation, unit)
    if ref is not None:
        compare = stats.mean if operation.endswith(" sign") else stats.median
        entry["reference"] = {
            "source": ref.source,
            "unit": ref.unit,
            "value": ref.value,
            "ratio": round(compare / ref.value, 3),
            "stack_bytes": ref.stack_bytes,
            "stack_ratio": (
                round(stack_bytes / ref.stack_bytes, 3)
                if stack_bytes is not None and ref.stack_bytes
                else None
            ),
            "comparable": ref.unit == unit,
            "note": ref.note,
        }
    return entry


def metric_from_samples(sample: OpSamples, threshold: float) -> dict[str, Any]:
    flags = ["counter-overflow"] if sample.overflow else []
    data_dependent = sample.name.endswith(" sign") or sample.group in (
        "handshake",
        "handshake-step",
    )
    notes = list(sample.notes)
    if data_dependent and sample.group != "primitive":
        notes.append(
            "includes ML-DSA signing: varies with the rejection loop (fixed seeds per run)"
        )
    if data_dependent:
        flags.append("data-dependent")
    return metric(
        sample.name,
        sample.group,
        sample.unit,
        [float(v) for v in sample.values],
        threshold=threshold,
        stack_bytes=max(sample.stacks) if sample.stacks else None,
        suite=sample.suite,
        role=sample.role,
        flags=flags,
        notes=notes,
        # a rejection-loop distribution is wide by nature: it is reported, not flagged
        check_spread=not data_dependent,
    )


def validate(report: Any) -> list[str]:
    """Every way ``report`` deviates from the schema (empty when it conforms)."""
    problems: list[str] = []
    if not isinstance(report, dict):
        return ["report is not a JSON object"]
    if report.get("schema") != SCHEMA:
        problems.append(f"schema is {report.get('schema')!r}, expected {SCHEMA!r}")
    for key in _ENVIRONMENT:
        if key not in report:
            problems.append(f"missing environment key {key!r}")
    clock = report.get("clock")
    if not isinstance(clock, dict) or not isinstance(clock.get("hz"), int):
        problems.append("clock must be an object with an integer 'hz'")
    metrics = report.get("metrics")
    if not isinstance(metrics, list):
        return [*problems, "metrics must be a list"]
    seen: set[str] = set()
    for i, entry in enumerate(metrics):
        where = f"metrics[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} is not an object")
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name must be a non-empty string")
        elif name in seen:
            problems.append(f"{where}.name {name!r} is duplicated")
        else:
            seen.add(name)
        if entry.get("unit") not in UNITS:
            problems.append(f"{where}.unit {entry.get('unit')!r} is not one of {UNITS}")
        stats = entry.get("statistics")
        if not isinstance(stats, dict):
            problems.append(f"{where}.statistics must be an object")
        else:
            for key in _STATISTICS:
                if not isinstance(stats.get(key), int | float) or isinstance(stats.get(key), bool):
                    problems.append(f"{where}.statistics.{key} must be a number")
            if all(
                isinstance(stats.get(k), int | float) for k in ("min", "median", "max")
            ) and not (stats["min"] <= stats["median"] <= stats["max"]):
                problems.append(f"{where}.statistics: min <= median <= max does not hold")
        flags = entry.get("flags")
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            problems.append(f"{where}.flags must be a list of strings")
    return problems
