"""The terminal summary of a report (``pqiot certify`` end, ``pqiot report show``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

__all__ = ["format_summary"]

_ORDER = ("pass", "fail", "blocked", "untested", "not-applicable")


def _declaration_lines(report: dict[str, Any], everything: bool) -> list[str]:
    """Spec §14.5: what rests on vendor declarations, and what is missing one."""
    claim = report["claim"]
    if "verified_by_declaration" not in claim:  # a schema-1 report
        return []
    declared, missing = claim["mandatory_declared"], claim["mandatory_not_declared"]
    lines = [
        f"declarations: {len(declared)} of {claim['verified_by_declaration']} applicable "
        f"declaration-verified MUST / MUST NOT declared"
        + (" (a certifier must review them)" if declared else "")
    ]
    lines += [f"  NOT DECLARED   {req_id}" for req_id in missing]
    if everything:
        for row in report.get("declarations", []):
            if row["declared"]:
                lines.append(f"  DECLARED       {row['requirement']}: {row['statement']}")
    return lines


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
    lines.extend(_declaration_lines(report, everything))
    if report["interop"]:
        ok = sum(1 for c in report["interop"] if c["outcome"] == "passed")
        lines.append(f"interop: {ok}/{len(report['interop'])} cells passed")
    if report["signing"].get("ephemeral_key"):
        lines.append("WARNING: evidence signed with an EPHEMERAL key (integrity only)")
    verdict = "CONFORMANT" if claim["conformant"] else "NOT CONFORMANT"
    lines.append(f"{verdict}: {claim['statement']}")
    return "\n".join(lines)
