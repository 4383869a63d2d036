"""``junit.xml``: the test results for CI systems, one testcase per conformance test.

Requirements verified by vendor declaration (spec §14.5) get a testcase of their
own in class ``declarations``: skipped when declared (never passed: a certifier
must review it), failed when an applicable MUST lacks a declaration, since that
alone denies the claim.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["write_junit"]


def _declarations(suite: ET.Element, report: dict[str, Any]) -> None:
    rows = [r for r in report.get("declarations", []) if r["applicable"]]
    missing = set(report["claim"].get("mandatory_not_declared", []))
    for row in rows:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "declarations", "name": row["requirement"], "time": "0"},
        )
        if row["verdict"] in ("fail", "blocked"):
            ET.SubElement(
                case, "failure", {"message": f"a test of its observable part: {row['verdict']}"}
            )
        elif row["requirement"] in missing:
            ET.SubElement(
                case,
                "failure",
                {"message": f"no vendor declaration for this {row['level']} (spec §14.5)"},
            )
        else:
            state = "declared: " + row["statement"] if row["declared"] else "not declared"
            ET.SubElement(
                case, "skipped", {"message": f"verified by vendor declaration; {state}"[:500]}
            )
    failed = sum(1 for c in suite.iter("testcase") if c.find("failure") is not None)
    skipped = sum(1 for c in suite.iter("testcase") if c.find("skipped") is not None)
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(failed))
    suite.set("skipped", str(skipped))


def write_junit(report: dict[str, Any], path: Path) -> None:
    tests = report["tests"]
    counts = Counter(t["outcome"] for t in tests)
    suite = ET.Element(
        "testsuite",
        {
            "name": f"pqiot-conformance-{report['target']['name']}",
            "tests": str(len(tests)),
            "failures": str(counts.get("failed", 0)),
            "errors": str(counts.get("blocked", 0)),
            "skipped": str(counts.get("skipped", 0)),
            "time": f"{report['timings']['test_seconds']:.3f}",
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("spec_version", report["spec_version"]),
        ("suite_version", report["suite_version"]),
        ("target", report["target"]["name"]),
        ("firmware", report["target"].get("firmware")),
        ("conformant", str(report["claim"]["conformant"]).lower()),
        ("declarations", report["summary"].get("declarations", 0)),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": str(value)})
    for test in tests:
        module, _, name = test["nodeid"].partition("::")
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": module.removesuffix(".py"),
                "name": name,
                "time": f"{test['duration']:.3f}",
            },
        )
        props = ET.SubElement(case, "properties")
        for req in test.get("requirements", []):
            ET.SubElement(props, "property", {"name": "requirement", "value": req})
        outcome = test["outcome"]
        if outcome == "failed":
            ET.SubElement(case, "failure", {"message": test.get("detail", "")[:500]})
        elif outcome == "blocked":
            ET.SubElement(case, "error", {"message": f"blocked: {test.get('detail', '')[:500]}"})
        elif outcome == "skipped":
            ET.SubElement(case, "skipped", {"message": test.get("detail", "")[:500]})
        ET.SubElement(case, "system-out").text = f"log: {test.get('log')}"
    _declarations(suite, report)
    ET.indent(suite)
    path.write_bytes(ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n")
