"""report.json / junit.xml / report.html built from a journal."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from pqiot.conformance.bundle import SigningKey, verify_bundle
from pqiot.conformance.certify import write_reports
from pqiot.conformance.declarations import Declaration
from pqiot.conformance.deviations import Deviation
from pqiot.conformance.journal import Journal
from pqiot.conformance.requirements import load_catalogue
from pqiot.conformance.summary import format_summary
from pqiot.reference.crypto import registry
from pqiot.reference.crypto.rng import ShakeRng

IDENTITY = {
    "spec": "1.0.0-draft", "build": "test", "firmware": "fw-1", "vendor": "v", "product": "p",
    "suites": [-102], "methods": [0], "roles": ["responder"], "bindings": ["tcp"],
    "features": ["key-update"],
}  # fmt: skip


def _journal(out: Path) -> None:
    journal = Journal(out / "results.jsonl")
    journal.write({"event": "run", "time": 1.0, "target": "dev", "transport": "tap",
                   "identity": IDENTITY, "description": {}, "resume": False})  # fmt: skip
    for nodeid, outcome, reqs, params in (
        ("t.py::a[suite-102-responder]", "passed", ["REQ-HS-004"],
         {"suite": -102, "device_role": "responder"}),
        ("t.py::b", "failed", ["REQ-REPLAY-002"], {}),
        ("t.py::c", "blocked", ["REQ-TAP-005"], {}),
    ):  # fmt: skip
        journal.write({"event": "start", "nodeid": nodeid})
        journal.write({
            "event": "result", "nodeid": nodeid, "outcome": outcome, "detail": "d",
            "requirements": reqs, "duration": 0.5, "log": f"logs/{nodeid}.log",
            "evidence": {"seen": 1}, "params": params,
            "metrics": [{"name": "handshake_bytes", "value": 7150, "unit": "B", "suite": -102}],
            "interop": {"binding": "tap"} if params else None,
        })  # fmt: skip
    journal.close()


def test_reports_cover_every_requirement_and_sign_the_bundle(tmp_path: Path) -> None:
    _journal(tmp_path)
    public, private = registry.signature(-49).generate(ShakeRng(b"report test"))
    key = SigningKey(public, private, True, "ephemeral")
    deviations = {"REQ-REPLAY-002": Deviation("REQ-REPLAY-002", "known")}
    report = write_reports(tmp_path, deviations, key, started=2.0)

    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["schema"] == "pqiot-conformance-report" and on_disk["schema_version"] == 2
    for key_name in ("spec_version", "suite_version", "target", "conformance_statement",
                     "requirements", "metrics", "environment", "timings", "interop"):  # fmt: skip
        assert key_name in on_disk
    ids = [r["id"] for r in on_disk["requirements"]]
    assert ids == load_catalogue().ids(), "every REQ ID exactly once, in spec order"
    verdict = {r["id"]: r["verdict"] for r in on_disk["requirements"]}
    assert verdict["REQ-HS-004"] == "pass"
    assert verdict["REQ-REPLAY-002"] == "fail"
    assert verdict["REQ-TAP-005"] == "blocked"
    assert verdict["REQ-MQTT-001"] == "not-applicable"
    assert report["claim"]["conformant"] is False
    assert on_disk["deviations"] == [
        {"requirement": "REQ-REPLAY-002", "reason": "known", "level": "MUST",
         "verdict": "fail", "unexpected_pass": False}
    ]  # fmt: skip
    assert on_disk["interop"][0]["suite"] == -102 and on_disk["interop"][0]["binding"] == "tap"
    assert on_disk["signing"]["ephemeral_key"] is True
    assert sum(on_disk["summary"][v] for v in ("pass", "fail", "blocked", "untested",
                                                "not-applicable")) == len(ids)  # fmt: skip

    suite = ET.parse(tmp_path / "junit.xml").getroot()
    tests = [c for c in suite.iter("testcase") if c.get("classname") != "declarations"]
    undeclared = len(report["claim"]["mandatory_not_declared"])
    assert len(tests) == 3 and suite.get("errors") == "1"
    assert suite.get("failures") == str(1 + undeclared), "a missing declaration is a failure"
    html = (tmp_path / "report.html").read_text()
    for section in ("Interop matrix", "Requirements", "Vendor deviations", "Metrics", "<svg"):
        assert section in html
    assert (
        "EPHEMERAL" in html
        and "<script" not in html
        and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    verify_bundle(tmp_path, public)


def test_declarations_appear_in_report_html_and_junit_never_as_pass(tmp_path: Path) -> None:
    """REQ-CONF-007: declared requirements stay untested, with the statement, in every format."""
    _journal(tmp_path)
    public, private = registry.signature(-49).generate(ShakeRng(b"declarations"))
    key = SigningKey(public, private, True, "ephemeral")
    catalogue = load_catalogue()
    mandatory = [
        r.id for r in catalogue.requirements
        if r.verification == "declaration" and r.mandatory and r.area in ("HS", "SP", "GEN", "KS")
    ]  # fmt: skip
    declared = {r: Declaration(r, f"statement for {r}", f"src/{r}.c") for r in mandatory[1:]}
    report = write_reports(tmp_path, {}, key, started=2.0, declarations=declared)

    on_disk = json.loads((tmp_path / "report.json").read_text())
    rows = {r["id"]: r for r in on_disk["requirements"]}
    first, second = mandatory[0], mandatory[1]
    assert rows[second]["verdict"] == "untested" and rows[second]["verification"] == "declaration"
    assert rows[second]["declaration"] == {
        "requirement": second, "statement": f"statement for {second}", "evidence": f"src/{second}.c"
    }  # fmt: skip
    assert rows[first]["declaration"] is None and "NOT declared" in rows[first]["reason"]
    assert rows["REQ-HS-004"]["verification"] == "test"
    assert rows["REQ-GEN-001"]["verification"] == "claim"
    assert not any(r["verdict"] == "pass" for r in on_disk["requirements"]
                   if r["verification"] != "test")  # fmt: skip
    assert first in report["claim"]["mandatory_not_declared"]
    assert second in report["claim"]["mandatory_declared"]
    assert on_disk["summary"]["declarations"] == len(declared)
    table = {d["requirement"]: d for d in on_disk["declarations"]}
    assert table[second]["declared"] and table[second]["why_not_tested"]
    assert not table[first]["declared"] and table[first]["statement"] is None

    html = (tmp_path / "report.html").read_text()
    section = html.split("<h2>Verified by vendor declaration</h2>")[1].split("<h2>")[0]
    assert f"statement for {second}" in section and f"src/{second}.c" in section
    assert "no vendor declaration" in section and "certifier must review" in section

    cases = {c.get("name"): c for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
             if c.get("classname") == "declarations"}  # fmt: skip
    assert cases[second].find("skipped") is not None, "declared: skipped, never passed"
    assert cases[first].find("failure") is not None, "missing declaration: a failure"

    summary = format_summary(report)
    assert f"NOT DECLARED   {first}" in summary
    assert f"{len(mandatory) - 1} of " in summary and "certifier must review" in summary
    assert f"DECLARED       {second}" in format_summary(report, everything=True)
