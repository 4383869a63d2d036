"""`pqiot bench --target host-ref`: a real run of the Python reference's agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pqiot.bench.report import validate
from pqiot.bench.wire import wire_bytes

Run = tuple[int, Path, dict[str, Any]]


def _metrics(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in report["metrics"]}


def test_run_succeeds_and_follows_the_documented_schema(host_ref_run: Run) -> None:
    code, _, report = host_ref_run
    assert code == 0
    assert validate(report) == []
    assert report["target"] == "host-ref" and report["kind"] == "host"
    assert report["clock"]["hz"] == 1_000_000_000 and report["clock"]["cycle_counter"] == "host-ns"
    assert report["compiler"].startswith("CPython ")
    assert report["git_revision"] and report["git_revision"] != ""


def test_host_figures_are_wall_clock_ns_never_cycles(host_ref_run: Run) -> None:
    _, _, report = host_ref_run
    units = {m["unit"] for m in report["metrics"]}
    assert "cycles" not in units and "instruction_proxy" not in units
    assert {m["unit"] for m in report["metrics"] if m["group"] == "primitive"} == {"wall_clock_ns"}


def test_suite_limits_the_primitives_to_its_own(host_ref_run: Run) -> None:
    """Suite -102 is ML-KEM-768 + ML-DSA-44 + A256GCM: nothing else is measured."""
    _, _, report = host_ref_run
    assert report["settings"]["primitives"] == ["ml-kem-768", "ml-dsa-44", "a256gcm"]
    names = set(_metrics(report))
    for op in (
        "ml-kem-768 keygen",
        "ml-kem-768 encaps",
        "ml-kem-768 decaps",
        "ml-dsa-44 keygen",
        "ml-dsa-44 sign",
        "ml-dsa-44 verify",
        "a256gcm seal 1KiB",
        "a256gcm open 1KiB",
    ):
        assert op in names
    assert not any(n.startswith("ml-kem-512") or n.startswith("ml-dsa-65") for n in names)


def test_runs_exclude_warmup_and_signing_covers_the_message_set(host_ref_run: Run) -> None:
    _, _, report = host_ref_run
    m = _metrics(report)
    assert m["ml-kem-768 keygen"]["statistics"]["n"] == 2  # --runs 2, warm-up discarded
    sign = m["ml-dsa-44 sign"]
    assert sign["statistics"]["n"] == 3  # one sample per message of --sign-messages 3
    assert "data-dependent" in sign["flags"]
    assert len(report["signing_distribution"]["per_scheme"]["ml-dsa-44"]["relative_to_min"]) == 3


def test_statistics_are_consistent_with_the_samples(host_ref_run: Run) -> None:
    _, _, report = host_ref_run
    for m in report["metrics"]:
        s = m["statistics"]
        assert s["min"] == min(m["samples"]) and s["max"] == max(m["samples"]), m["name"]
        assert s["min"] <= s["median"] <= s["max"]
        spread_flag = "wide-spread" in m["flags"]
        if "data-dependent" not in m["flags"] and m["group"] != "handshake-ratio":
            assert spread_flag == (s["spread"] > report["settings"]["spread_threshold"]), m["name"]


def test_handshake_in_both_roles_with_bytes_per_binding(host_ref_run: Run) -> None:
    _, _, report = host_ref_run
    m = _metrics(report)
    for role in ("initiator", "responder"):
        hs = m[f"handshake -102 {role}"]
        assert hs["statistics"]["n"] == 2 and hs["statistics"]["min"] > 0
        assert (
            m[f"handshake -102 {role} end-to-end"]["statistics"]["min"] >= hs["statistics"]["min"]
        )
        assert f"handshake -102 {role} record protect 64B" in m
    sizes = m["handshake -102 bytes edhoc"]["notes"][0]
    edhoc = m["handshake -102 bytes edhoc"]["statistics"]["median"]
    tcp = m["handshake -102 bytes tcp"]["statistics"]["median"]
    assert "[" in sizes and tcp == edhoc + 5 * 3  # three messages, 4-byte prefix + kind each
    assert m["handshake -102 bytes serial"]["statistics"]["median"] > tcp


def test_ratio_metric_says_it_is_not_like_for_like_on_host_ref(host_ref_run: Run) -> None:
    _, _, report = host_ref_run
    ratio = _metrics(report)["handshake -102 initiator / primitives"]
    assert ratio["unit"] == "ratio"
    assert any("NOT like for like" in n for n in ratio["notes"])


def test_host_reference_figure_is_shown_with_its_ratio(host_ref_run: Run) -> None:
    _, _, report = host_ref_run
    ref = _metrics(report)["ml-kem-768 keygen"]["reference"]
    assert ref["unit"] == "wall_clock_ns" and ref["value"] == 100e3 and ref["comparable"]
    median = _metrics(report)["ml-kem-768 keygen"]["statistics"]["median"]
    assert ref["ratio"] == round(median / 100e3, 3)


def test_html_page_is_written_offline_with_plots_and_tables(host_ref_run: Run) -> None:
    _, out, _ = host_ref_run
    page = (out / "bench-host-ref.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("data:image/png;base64,") >= 2  # primitives + signing distribution
    assert "http://" not in page and "https://" not in page  # one offline file
    assert "ml-kem-768 keygen" in page and "Bytes on the wire" in page
    assert "Wall-clock nanoseconds" in page


def test_wire_bytes_known_answer() -> None:
    """tcp = 4-byte prefix + kind + message; serial = COBS(4 header + payload + 4 CRC) + 00."""
    assert wire_bytes([bytes(10)]) == {"edhoc": 10, "tcp": 15, "serial": 21}
