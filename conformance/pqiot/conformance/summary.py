"""The terminal summary of a report (``pqiot certify`` end, ``pqiot report show``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

__all__ = ["format_summary"]

_ORDER = ("pass", "fail", "blocked", "untested", "not-applicable")


def format_summary(report: dict[str, Any], *, everything: bool = False) -> str:
    target, claim, summary = report["target"], report["claim"], report["summary"]
    lines = [
        f"target {target['name']} ({target.get('transport')}), firmware {target.get('firmware')}, "
        f"spec {report['spec_version']}, suite {report['suite_version']}",
        "  ".join(f"{k}: {summary.get(k, 0)}" for k in _ORDER) + f"  (total {summary['total']})",
    ]
    areas: dict[str, Counter[str]] = defaultdict(Counter)
    for req in report["requirements"]:
        areas[req["area"]][req["verdict"]] += 1
    lines.append("by area:")
    for area, counts in areas.items():
        lines.append(f"  {area:<7}" + " ".join(f"{k}={counts[k]}" for k in _ORDER if counts[k]))
    for req in report["requirements"]:
        if everything or req["verdict"] in ("fail", "blocked"):
            lines.append(
                f"  {req['verdict'].upper():<14} {req['id']} ({req['level']}): {req['reason']}"
            )
    for deviation in report["deviations"]:
        flag = "  <- PASSES: deviation is stale" if deviation["unexpected_pass"] else ""
        lines.append(
            f"  DEVIATION {deviation['requirement']} ({deviation['verdict']}): "
            f"{deviation['reason']}{flag}"
        )
    if report["interop"]:
        ok = sum(1 for c in report["interop"] if c["outcome"] == "passed")
        lines.append(f"interop: {ok}/{len(report['interop'])} cells passed")
    if report["signing"].get("ephemeral_key"):
        lines.append("WARNING: evidence signed with an EPHEMERAL key (integrity only)")
    verdict = "CONFORMANT" if claim["conformant"] else "NOT CONFORMANT"
    lines.append(f"{verdict}: {claim['statement']}")
    return "\n".join(lines)
