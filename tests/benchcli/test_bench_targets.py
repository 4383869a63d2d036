"""`pqiot bench` on the reference firmware: host-fw and qemu-m4 (skipped without the image)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pqiot.bench.report import validate
from pqiot.cli.main import main

from .conftest import require_image


def _bench(tmp_path: Path, target: str, *args: str) -> tuple[int, dict[str, Any]]:
    require_image(target)
    code = main(["bench", "--target", target, "--out", str(tmp_path), *args])
    return code, json.loads((tmp_path / f"bench-{target}.json").read_text())


def _metrics(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in report["metrics"]}


def test_qemu_m4_reports_the_labelled_instruction_proxy_stack_and_footprint(
    tmp_path: Path,
) -> None:
    """Short version: one suite, one run, two signing messages."""
    code, report = _bench(
        tmp_path,
        "qemu-m4",
        "--suite",
        "-102",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--sign-messages",
        "2",
    )
    assert code == 0 and validate(report) == []
    assert report["unit"] == "instruction_proxy" and report["clock"]["hz"] == 25_000_000
    assert report["compiler"].startswith("GNU C") and "-mcpu=cortex-m4" in report["flags"]
    m = _metrics(report)
    keygen = m["ml-kem-768 keygen"]
    assert keygen["unit"] == "instruction_proxy" and keygen["stack_bytes"] > 8000
    assert keygen["reference"]["comparable"] is False
    assert "not comparable 1:1" in keygen["reference"]["note"]
    assert 0.8 < keygen["reference"]["ratio"] < 1.6  # same PQClean code: near pqm4's cycles
    fp = report["footprint"]
    assert m["image flash_bytes"]["statistics"]["median"] == fp["text"] + fp["data"]
    assert (
        m["image static_ram_bytes"]["statistics"]["median"]
        == fp["ram_bytes"] - fp["stack_reserved"]
    )
    hs = m["handshake -102 initiator"]
    assert hs["stack_bytes"] >= m["ml-dsa-44 sign"]["stack_bytes"]  # signing runs inside it
    ratio = m["handshake -102 initiator / primitives (minimums)"]["statistics"]["median"]
    assert ratio >= 1.0  # a handshake cannot cost less than the primitives it runs
    assert "instruction proxy" in (tmp_path / "bench-qemu-m4.html").read_text()


def test_host_fw_reports_wall_clock_and_no_footprint(tmp_path: Path) -> None:
    code, report = _bench(
        tmp_path,
        "host-fw",
        "--suite",
        "-101",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--sign-messages",
        "1",
        "--no-handshakes",
    )
    assert code == 0 and validate(report) == []
    assert report["unit"] == "wall_clock_ns" and report["footprint"] is None
    assert report["settings"]["primitives"] == ["ml-kem-512", "ml-dsa-44", "aes-ccm-16-64-128"]
    assert "-O2" in report["flags"]
    assert not any(m["group"] == "handshake" for m in report["metrics"])


@pytest.mark.slow
def test_qemu_m4_full_run_is_repeatable_against_itself(tmp_path: Path) -> None:
    """Full default run twice: the QEMU proxy and the bytes are deterministic (fixed seeds,
    c_id and peer randomness), so 0.1 % passes; host wall clock is shown, not gated."""
    first, report = _bench(tmp_path / "a", "qemu-m4")
    assert first == 0 and validate(report) == []
    assert {-101, -102, -105} <= set(report["settings"]["suites"])
    sign = _metrics(report)["ml-dsa-44 sign"]
    assert (
        sign["statistics"]["n"] == 64 and sign["statistics"]["max"] > 2 * sign["statistics"]["min"]
    )
    code = main(
        [
            "bench",
            "--target",
            "qemu-m4",
            "--out",
            str(tmp_path / "b"),
            "--baseline",
            str(tmp_path / "a" / "bench-qemu-m4.json"),
            "--max-regression",
            "0.1",
            "--ignore-unit",
            "wall_clock_ns",
        ]
    )
    assert code == 0
    again = json.loads((tmp_path / "b" / "bench-qemu-m4.json").read_text())
    compared = {c["name"] for c in again["baseline"]["comparisons"] if c["gated"]}
    assert "handshake -102 initiator" in compared and "ml-dsa-65 sign" in compared
