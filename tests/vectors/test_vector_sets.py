"""Every default vector set passes against the reference, and the sets say what they cover.

The default selection includes the full ML-KEM / ML-DSA KAT files (3000 and
300 records): PyCryptodome's C code computes the derandomised entry points,
so each takes a few seconds instead of minutes in kyber-py / dilithium-py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pqiot.vectors.accumulated import PUBLISHED_DIGESTS
from pqiot.vectors.agent import ReferenceAgent
from pqiot.vectors.catalog import DATA_DIR, all_sets
from pqiot.vectors.jsonfile import load_vector_file
from pqiot.vectors.model import VectorSet
from pqiot.vectors.runner import run_set

SPEC = Path(__file__).resolve().parents[2] / "spec"
DEFAULT_SETS = [s.name for s in all_sets() if not s.slow]
SLOW_SETS = [s.name for s in all_sets() if s.slow]


def _by_name(name: str) -> VectorSet:
    return next(s for s in all_sets() if s.name == name)


@pytest.mark.parametrize("name", DEFAULT_SETS)
def test_default_set_passes_against_the_reference(name: str) -> None:
    """The CI gate of issue 3: no failure, no skip, and every counted vector ran."""
    vector_set = _by_name(name)
    result = run_set(vector_set, ReferenceAgent())
    assert result.failed == 0, [f"{f.case}: {f.detail}" for f in result.failures[:5]]
    assert result.skipped == 0, result.skip_reasons
    assert result.passed == vector_set.count() > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_SETS)
def test_slow_set_passes_against_the_reference(name: str) -> None:
    result = run_set(_by_name(name), ReferenceAgent(), include_slow=True)
    assert result.failed == 0 and result.skipped == 0 and result.passed > 0


def test_full_kat_files_are_part_of_the_default_selection() -> None:
    """Issue 3: `pqiot vectors verify` (and this suite) checks every published KAT record."""
    assert {"mlkem-kat-full", "mldsa-kat-full"} <= set(DEFAULT_SETS)
    assert _by_name("mlkem-kat-full").count() == 3000
    assert _by_name("mldsa-kat-full").count() == 300
    assert SLOW_SETS == ["accumulated-10k"]


def test_slow_sets_are_skipped_with_a_reason_unless_asked_for() -> None:
    result = run_set(_by_name("accumulated-10k"), ReferenceAgent())
    assert (result.passed, result.failed, result.skipped) == (0, 0, 1)
    assert "--slow" in result.skip_reasons[0]


def test_full_kat_sets_run_on_a_device_link_only_when_asked_for() -> None:
    """Seconds in the reference, tens of minutes through an emulated UART: opt-in on devices."""
    assert {s.name for s in all_sets() if s.slow_on_device} == {"mlkem-kat-full", "mldsa-kat-full"}
    skipped = run_set(_by_name("mldsa-kat-full"), ReferenceAgent(), reference=False)
    assert (skipped.passed, skipped.failed, skipped.skipped) == (0, 0, 300)
    assert "--slow" in skipped.skip_reasons[0] and "device" in skipped.skip_reasons[0]
    asked = run_set(
        _by_name("mldsa-kat-full"), ReferenceAgent(), reference=False, include_slow=True
    )
    assert (asked.passed, asked.failed) == (300, 0)


def test_protocol_sets_are_skipped_on_a_device_with_the_reason() -> None:
    result = run_set(_by_name("protocol-pubsub"), ReferenceAgent(), reference=False)
    assert result.passed == result.failed == 0 and result.skipped == 10
    assert "issue 6" in result.skip_reasons[0]


def test_accumulated_file_holds_gos_published_mlkem768_digests() -> None:
    """REQ-TAP-012: 100 -> 1114b1b6..., 10,000 -> 8a518cc6..."""
    records = {
        (r["inputs"]["prim"], r["inputs"]["n"]): r["expected"]["digest"]
        for r in load_vector_file(DATA_DIR / "accumulated.json").records
    }
    assert records[("ml-kem-768", 100)] == PUBLISHED_DIGESTS[("ML-KEM-768", 100)]
    assert records[("ml-kem-768", 100)].startswith("1114b1b6")
    assert records[("ml-kem-768", 10_000)] == PUBLISHED_DIGESTS[("ML-KEM-768", 10_000)]
    assert records[("ml-kem-768", 10_000)].startswith("8a518cc6")


def _spec_requirement_ids() -> set[str]:
    pattern = re.compile(r"\*\*(REQ-[A-Z]+-\d{3})\*\* \(")
    return {m for path in SPEC.glob("*.md") for m in pattern.findall(path.read_text())}


@pytest.mark.parametrize(
    "file",
    ["negative-primitives.json", "negative-protocol.json", "accumulated.json", "pubsub.json"],
)
def test_every_generated_record_names_existing_requirements(file: str) -> None:
    known = _spec_requirement_ids()
    for record in load_vector_file(DATA_DIR / file).records:
        assert record["req"], record["id"]
        assert set(record["req"]) <= known, (record["id"], set(record["req"]) - known)


def test_negative_mlkem_keys_cover_every_position_class() -> None:
    """REQ-SUITE-007: q and 4095 at the first, middle and last coefficient of first/middle/last polynomial."""
    ids = {r["id"] for r in load_vector_file(DATA_DIR / "negative-primitives.json").records}
    for n, polys in ((512, (0, 1)), (768, (0, 1, 2)), (1024, (0, 2, 3))):
        for poly in polys:
            for index in (0, 128, 255):
                for value in (3329, 4095):
                    assert f"ml-kem-{n}/ek-coefficient-p{poly}-i{index}-{value}" in ids
        ek_size = {512: 800, 768: 1184, 1024: 1568}[n]
        for rid in (f"ek-{ek_size - 1}-bytes", "dk-hash-mismatch", "c-flipped-first-byte"):
            assert f"ml-kem-{n}/{rid}" in ids


def test_negative_records_cover_every_signature_and_aead() -> None:
    records = load_vector_file(DATA_DIR / "negative-primitives.json").records
    sig_algs = {r["inputs"]["alg"] for r in records if r["operation"] == "sig_verify"}
    aead_algs = {r["inputs"]["alg"] for r in records if r["operation"] == "aead_open"}
    assert sig_algs == {-48, -49, -50, -65601, -65602}
    assert aead_algs == {3, 10, 24, 30}
    falcon = {r["id"] for r in records if r["inputs"].get("alg") in (-65601, -65602)}
    assert {"falcon-512/norm-violation", "falcon-1024/bad-header-unpadded"} <= falcon


def test_protocol_vectors_cover_every_suite_method_and_credential_mode() -> None:
    from pqiot.reference import suites

    for suite in suites.all_suites():
        records = load_vector_file(DATA_DIR / "handshakes" / f"suite{suite.id}.json").records
        got = {(r["inputs"]["method"], r["inputs"]["credential_mode"]) for r in records}
        want = {(0, "kid"), (0, "value")} | (
            {(4, "psk")} if suite.is_kem else {(3, "kid"), (3, "value")}
        )
        assert got == want, suite.id
        for record in records:
            assert {"TH_2", "TH_3", "PRK_3e2m", "PRK_out"} <= set(record["intermediates"]["trace"])
            assert len(record["intermediates"]["epochs"]) == 2
