"""Device measurements in the certification report (issue #7 item 4, issue #9).

The figures come from the bench's measuring code, run on the device the
certification brought up; these tests check that they reach report.json and
report.html with their unit, reference and ratio, and that a figure that cannot
be collected is reported with its reason while the verdicts stay as they were.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from pqiot.bench.report import metric
from pqiot.conformance import metrics as measurements
from pqiot.conformance.bundle import SigningKey
from pqiot.conformance.certify import write_reports
from pqiot.conformance.device import Device, open_device
from pqiot.conformance.html_metrics import render_measurements
from pqiot.conformance.journal import JOURNAL_NAME, Journal
from pqiot.hil.agent_client import AgentError
from pqiot.hil.client import AgentClient, StatusError
from pqiot.hil.runner import repo_root
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto import registry
from pqiot.reference.crypto.rng import ShakeRng

FAST = measurements.MeasureSettings(runs=2, sign_messages=1, handshake_runs=1)


def _small(device: Device, primitives: list[str], suites: list[int]) -> Device:
    """The same device declaring fewer items: the plan follows the declaration."""
    identity: dict[str, CborValue] = dict(device.identity)
    identity["primitives"], identity["suites"] = list(primitives), list(suites)
    return replace(device, identity=identity)


@pytest.fixture(scope="module")
def host_ref() -> Iterator[Device]:
    with open_device("host-ref") as device:
        yield device


@pytest.fixture(scope="module")
def key() -> SigningKey:
    public, private = registry.signature(-49).generate(ShakeRng(b"metrics test"))
    return SigningKey(public, private, True, "ephemeral")


def _journal(out: Path, identity: dict[str, Any]) -> Journal:
    journal = Journal(out / JOURNAL_NAME)
    journal.write({"event": "run", "time": 1.0, "target": "host-ref", "transport": "in-process",
                   "identity": identity, "description": {}, "resume": False})  # fmt: skip
    journal.write({"event": "start", "nodeid": "t.py::a"})
    journal.write({
        "event": "result", "nodeid": "t.py::a", "outcome": "passed", "detail": "",
        "requirements": ["REQ-TAP-008"], "duration": 0.1, "log": "logs/a.log",
        "evidence": {}, "params": {}, "interop": None,
        "metrics": [{"name": "handshake_bytes", "value": 7153, "unit": "B", "suite": -102}],
    })  # fmt: skip
    return journal


@pytest.fixture(scope="module")
def host_ref_report(
    host_ref: Device, key: SigningKey, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("host-ref")
    journal = _journal(out, dict(host_ref.identity))
    device = _small(host_ref, ["ml-kem-768", "sha256"], [-102])
    doc = measurements.measure_after_tests(
        device, journal.write, out / JOURNAL_NAME, interrupted=False, settings=FAST
    )
    journal.close()
    assert doc is not None
    write_reports(out, {}, key, started=2.0)
    return json.loads((out / "report.json").read_text()), (out / "report.html").read_text()


def _measured(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in report["metrics"] if m.get("source") == "measurement"}


def test_host_ref_figures_reach_report_json(host_ref_report: tuple[dict[str, Any], str]) -> None:
    report, _ = host_ref_report
    figures = _measured(report)
    assert report["measurement"]["status"] == "complete", report["measurement"]["errors"]
    for name in ("ml-kem-768 keygen", "ml-kem-768 encaps", "ml-kem-768 decaps",
                 "sha256 4KiB", "handshake -102 initiator", "handshake -102 responder",
                 "handshake -102 initiator end-to-end", "handshake -102 bytes tcp"):  # fmt: skip
        assert name in figures, name
    keygen = figures["ml-kem-768 keygen"]
    assert keygen["unit"] == "wall_clock_ns", "host-ref figures are host time, never cycles"
    assert keygen["value"] == keygen["statistics"]["median"] and keygen["statistics"]["n"] == 2
    assert keygen["test"] is None
    # bytes on the wire are exact: the tests' own figure for this suite agrees
    tcp = figures["handshake -102 bytes tcp"]["value"]
    assert figures["handshake -102 bytes edhoc"]["value"] == 7153 and tcp == 7153 + 3 * 5
    env = report["measurement"]["environment"]
    assert env["cycle_source"] == "host-ns" and env["clock"]["hz"] == 1_000_000_000
    assert env["transport"] == "in-process" and env["compiler"].startswith("CPython")
    assert report["measurement"]["settings"]["suites"] == [-102]
    assert report["measurement"]["footprint"] is None, "no firmware image in process"
    test_metric = [m for m in report["metrics"] if m.get("test") == "t.py::a"]
    assert test_metric and test_metric[0]["name"] == "handshake_bytes", "test metrics are kept"


def test_host_ref_figures_reach_report_html(host_ref_report: tuple[dict[str, Any], str]) -> None:
    _, html = host_ref_report
    assert "Device measurements" in html and "Handshake cost per suite and role" in html
    assert "ml-kem-768 keygen" in html and "wall_clock_ns" in html
    assert "Python cryptography (OpenSSL)" in html, "host reference figure with its source label"
    assert "<svg" in html and "ratio to the public reference" in html, "inline chart"
    for remote in ("src='http", 'src="http', "<link", "<script"):
        assert remote not in html, "nothing is fetched when the page is opened"


def test_ratio_to_pqm4_is_labelled_and_computed_from_the_median() -> None:
    """A QEMU proxy figure is set against pqm4 cycles, marked not comparable 1:1."""
    keygen = metric("ml-kem-768 keygen", "primitive", "instruction_proxy",
                    [1_140_680, 1_140_720, 1_140_680], threshold=0.25, stack_bytes=10_308)  # fmt: skip
    sign = metric("ml-dsa-44 sign", "primitive", "instruction_proxy",
                  [6_000_000, 7_000_000, 20_000_000], threshold=0.25)  # fmt: skip
    doc = measurements.not_run("x") | {"status": "complete", "metrics": [keygen, sign]}
    entries = measurements.report_metrics(doc)
    ref = entries[0]["reference"]
    assert ref["value"] == 989e3 and ref["unit"] == "cycles" and ref["comparable"] is False
    assert ref["ratio"] == round(1_140_680 / 989e3, 3)
    assert ref["stack_ratio"] == round(10_308 / 10_248, 3)
    assert entries[1]["reference"]["ratio"] == round(11_000_000 / 7.93e6, 3), "signing: mean"
    html = render_measurements(
        {"metrics": entries, "measurement": {k: v for k, v in doc.items() if k != "metrics"}}
    )
    assert "pqm4 PQClean clean, Cortex-M4" in html and "not comparable 1:1" in html
    assert f"&times;{ref['ratio']}" in html and "our mean / reference" in html


class _Flaky:
    """The real client, except that ML-KEM-1024 keygen is refused and MEASURE can die."""

    def __init__(self, real: Any, *, dead: bool = False) -> None:
        self.real, self.dead = real, dead

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def mlkem_keygen(self, size: int, d: bytes, z: bytes) -> Any:
        if size == 1024:
            raise StatusError(32, 3, {"error": "unsupported parameter set"})
        return self.real.mlkem_keygen(size, d, z)

    def measure(self) -> Any:
        if self.dead:
            raise AgentError("TAP connection failed while sending: broken pipe")
        return self.real.measure()


def test_a_figure_that_fails_is_reported_with_its_reason(host_ref: Device) -> None:
    device = replace(
        _small(host_ref, ["ml-kem-1024", "sha256"], []),
        client=cast(AgentClient, _Flaky(host_ref.client)),
    )
    doc = measurements.collect(device, FAST)
    assert doc["status"] == "partial"
    assert [e["metric"] for e in doc["errors"]] == ["ml-kem-1024"]
    assert "StatusError" in doc["errors"][0]["reason"]
    assert "sha256 4KiB" in {m["name"] for m in doc["metrics"]}, "the others are still measured"
    failed = [e for e in measurements.report_metrics(doc) if e.get("error")]
    assert failed == [{"name": "ml-kem-1024", "group": "primitive", "value": None, "unit": None,
                       "test": None, "source": "measurement",
                       "error": doc["errors"][0]["reason"]}]  # fmt: skip


def test_after_a_lost_link_the_device_is_not_asked_again(host_ref: Device) -> None:
    client = cast(AgentClient, _Flaky(host_ref.client, dead=True))
    device = replace(_small(host_ref, ["ml-kem-512", "sha256"], []), client=client)
    doc = measurements.collect(device, FAST)
    assert doc["status"] == "failed" and doc["metrics"][:1] == []
    assert "AgentError" in doc["errors"][0]["reason"]
    assert doc["errors"][1]["metric"] == "sha256"
    assert doc["errors"][1]["reason"].startswith("not attempted: the device stopped answering")


def test_a_broken_measurement_phase_keeps_the_verdicts(
    host_ref: Device, key: SigningKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object, **_kwargs: object) -> dict[str, Any]:
        raise RuntimeError("probe fell off")

    plain, measured = tmp_path / "plain", tmp_path / "measured"
    for out in (plain, measured):
        out.mkdir()
        journal = _journal(out, dict(host_ref.identity))
        if out is measured:
            monkeypatch.setattr(measurements, "collect", explode)
            measurements.measure_after_tests(
                host_ref, journal.write, out / JOURNAL_NAME, interrupted=False
            )
        journal.close()
        write_reports(out, {}, key, started=2.0)
    before = json.loads((plain / "report.json").read_text())
    after = json.loads((measured / "report.json").read_text())
    assert after["requirements"] == before["requirements"] and after["claim"] == before["claim"]
    assert after["measurement"]["status"] == "failed"
    assert "RuntimeError: probe fell off" in after["measurement"]["reason"]
    assert before["measurement"]["status"] == "not-run"
    assert "--measure" in before["measurement"]["reason"]
    html = (measured / "report.html").read_text()
    assert "could not be collected" in html and "probe fell off" in html


def test_no_measuring_after_an_interrupted_run_nor_twice_on_resume(
    host_ref: Device, tmp_path: Path
) -> None:
    journal = _journal(tmp_path, dict(host_ref.identity))
    path = tmp_path / JOURNAL_NAME
    assert measurements.measure_after_tests(host_ref, journal.write, path, interrupted=True) is None
    assert measurements.read_measurements(path) is None
    journal.write({"event": "measurements", "time": 5.0, **measurements.not_run("x"),
                   "status": "complete"})  # fmt: skip
    assert (
        measurements.measure_after_tests(host_ref, journal.write, path, interrupted=False) is None
    )
    journal.close()
    kept = measurements.read_measurements(path)
    assert kept is not None and kept["measured_at"] == 5.0


def _firmware(name: str) -> Path:
    return repo_root() / "build" / "firmware" / name


@pytest.mark.skipif(not _firmware("host/pqiot-fw").exists(), reason="needs `make firmware`")
def test_host_fw_through_the_harness() -> None:
    """The C firmware, natively: MEASURE in host ns, compiler from the image's DWARF."""
    with open_device("host-fw") as device:
        doc = measurements.collect(_small(device, ["ml-kem-512", "sha256"], []), FAST)
    assert doc["status"] == "complete", doc["errors"]
    names = {m["name"]: m for m in doc["metrics"]}
    assert names["ml-kem-512 keygen"]["unit"] == "wall_clock_ns"
    assert doc["environment"]["cycle_source"] == "host-ns"
    assert doc["environment"]["compiler"].startswith("GNU C")
    assert doc["footprint"] is None, "a native executable's sizes are not a device footprint"


@pytest.mark.slow
@pytest.mark.skipif(
    not _firmware("qemu-m4/pqiot-fw.elf").exists() or shutil.which("qemu-system-arm") is None,
    reason="needs `make firmware` and qemu-system-arm",
)
def test_qemu_m4_measurements_as_certify_takes_them() -> None:
    """Default settings on the emulated M4: proxy labelled, footprint, stack, under a minute."""
    with open_device("qemu-m4") as device:
        doc = measurements.collect(device)
    assert doc["status"] == "complete", doc["errors"]
    assert doc["duration_s"] < 60, doc["duration_s"]
    names = {m["name"]: m for m in doc["metrics"]}
    keygen = names["ml-kem-768 keygen"]
    assert keygen["unit"] == "instruction_proxy" and keygen["stack_bytes"] > 0
    assert keygen["statistics"]["n"] == 2 and keygen["statistics"]["spread"] < 1e-3
    assert keygen["reference"]["comparable"] is False
    flash = names["image flash_bytes"]["statistics"]["median"]
    assert doc["footprint"]["flash_bytes"] == flash > 0
    for suite in doc["settings"]["suites"]:
        for role in ("initiator", "responder"):
            cost = names[f"handshake {suite} {role}"]
            assert cost["unit"] == "instruction_proxy" and cost["stack_bytes"] > 0
            assert f"handshake {suite} {role} / primitives" in names
        assert names[f"handshake {suite} bytes serial"]["statistics"]["median"] > 0


PLUGIN = ("-p", "pqiot.conformance.plugin", "-p", "no:hypothesispytest", "-p", "no:benchmark")
ONE_TEST = """
import pytest

@pytest.mark.requirement("REQ-TAP-008")
def test_identify(device):
    assert device.alive()
"""
#: Shrinks what host-ref declares for measuring, so the subprocess stays fast.
SHRINK = """
from dataclasses import replace
import pqiot.conformance.metrics as m

_collect = m.collect

def _small(device, settings=None, **kwargs):
    identity = {**device.identity, "primitives": ["ml-kem-512"], "suites": []}
    return _collect(replace(device, identity=identity), m.MeasureSettings(runs=1), **kwargs)

m.collect = _small
"""


@pytest.mark.parametrize("measure", [True, False])
def test_the_plugin_measures_after_the_tests_only_when_asked(
    pytester: pytest.Pytester, tmp_path: Path, measure: bool
) -> None:
    """The device session of the tests is reused; the measurements line follows the results."""
    pytester.makeconftest(SHRINK)
    pytester.makepyfile(test_suite=ONE_TEST)
    out = tmp_path / "o"
    args = [*PLUGIN, "--target", "host-ref", "--out", str(out)] + (["--measure"] if measure else [])
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 0
    events = [json.loads(x) for x in (out / JOURNAL_NAME).read_text().splitlines()]
    kinds = [e["event"] for e in events]
    if not measure:
        assert "measurements" not in kinds
        return
    assert kinds == ["run", "start", "result", "measurements"]
    doc = events[-1]
    assert doc["status"] == "complete" and doc["environment"]["transport"] == "in-process"
    assert {m["name"] for m in doc["metrics"]} >= {"ml-kem-512 keygen", "ml-kem-512 decaps"}
    result.stdout.fnmatch_lines(["*measurements: complete*"])
