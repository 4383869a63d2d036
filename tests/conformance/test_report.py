"""report.json / junit.xml / report.html built from a journal."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from pqiot.conformance.bundle import SigningKey, verify_bundle
from pqiot.conformance.certify import write_reports
from pqiot.conformance.deviations import Deviation
from pqiot.conformance.journal import Journal
from pqiot.conformance.requirements import load_catalogue
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
    assert on_disk["schema"] == "pqiot-conformance-report" and on_disk["schema_version"] == 1
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
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    html = (tmp_path / "report.html").read_text()
    for section in ("Interop matrix", "Requirements", "Vendor deviations", "Metrics", "<svg"):
        assert section in html
    assert (
        "EPHEMERAL" in html
        and "<script" not in html
        and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    verify_bundle(tmp_path, public)
