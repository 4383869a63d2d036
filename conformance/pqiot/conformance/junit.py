"""``junit.xml``: the test results for CI systems, one testcase per conformance test."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["write_junit"]


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
    ET.indent(suite)
    path.write_bytes(ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n")
