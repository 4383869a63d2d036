"""Broken vector files are failures that name file and record, never crashes or passes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pqiot.vectors.accumulated_sets import _checker, accumulated_sets
from pqiot.vectors.agent import ReferenceAgent
from pqiot.vectors.catalog import DATA_DIR
from pqiot.vectors.negative_primitives import negative_primitives_set
from pqiot.vectors.negative_protocol import negative_protocol_set
from pqiot.vectors.protocol_vectors import handshake_set
from pqiot.vectors.pubsub_vectors import pubsub_set
from pqiot.vectors.runner import run_set


def _copy(tmp_path: Path, name: str) -> tuple[Path, dict]:  # type: ignore[type-arg]
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA_DIR / name, target)
    return target, json.loads(target.read_text())


def test_missing_field_bad_hex_and_wrong_length_are_located_failures(tmp_path: Path) -> None:
    path, document = _copy(tmp_path, "negative-primitives.json")
    records = document["records"]
    del records[1]["inputs"]["ek"]  # missing field
    records[2]["inputs"]["m"] = "xyz"  # bad hex
    records[3]["expected"]["outcome"] = "maybe"  # unknown outcome
    records[0]["inputs"]["ek"] = records[0]["inputs"]["ek"][:-2]  # valid record, now one byte short
    del records[4]["req"]
    records[5] = "not a record"
    path.write_text(json.dumps(document))
    result = run_set(negative_primitives_set(tmp_path), ReferenceAgent())
    assert result.failed == 6 and result.passed == len(records) - 6
    details = {f.detail for f in result.failures}
    assert any("record 1 (inputs): missing field 'inputs.ek'" in d for d in details), details
    assert any("record 2 (inputs): field 'inputs.m' is not valid hex" in d for d in details)
    assert any("record 3 (expected): unknown outcome 'maybe'" in d for d in details)
    assert any("expected outcome valid, got rejected" in d for d in details)
    assert any("record 4: field 'req'" in d for d in details)
    assert any("record 5: expected an object" in d for d in details)
    assert all(str(path) in d for d in details if "record" in d)


def test_a_truncated_handshake_record_fails_only_itself(tmp_path: Path) -> None:
    path, document = _copy(tmp_path, "handshakes/suite2.json")
    first = document["records"][0]
    first["inputs"]["initiator"]["rng_draws"] = first["inputs"]["initiator"]["rng_draws"][:-1]
    document["records"][1]["intermediates"]["trace"]["TH_2"] = "00" * 32
    document["records"][2]["inputs"]["responder"]["private_key"] = "0011"  # wrong length
    path.write_text(json.dumps(document))
    result = run_set(handshake_set(tmp_path), ReferenceAgent())
    assert (result.passed, result.failed) == (len(document["records"]) - 3, 3)
    details = [f.detail for f in result.failures]
    assert "initiator rng" in details[0]
    assert "intermediates.trace.TH_2 differs" in details[1]
    assert f"{path}: record 2" in details[2]


def test_unreadable_files_are_failures(tmp_path: Path) -> None:
    (tmp_path / "pubsub.json").write_text("{")
    (tmp_path / "negative-protocol.json").write_text(json.dumps({"schema_version": 99}))
    (tmp_path / "handshakes").mkdir()
    (tmp_path / "handshakes" / "suite-102.json").write_text("[]")
    for vector_set in (
        pubsub_set(tmp_path),
        negative_protocol_set(tmp_path),
        handshake_set(tmp_path),
    ):
        result = run_set(vector_set, ReferenceAgent())
        assert result.failed == 1 and result.passed == 0, vector_set.name
    missing = next(s for s in accumulated_sets(tmp_path) if s.name == "accumulated-100")
    result = run_set(missing, ReferenceAgent())
    assert result.failed == 3 and result.passed == 0
    assert "accumulated.json" in result.failures[0].detail


def test_a_wrong_expected_digest_fails(tmp_path: Path) -> None:
    path, document = _copy(tmp_path, "accumulated.json")
    for record in document["records"]:
        if record["inputs"] == {"prim": "ml-kem-768", "n": 100}:
            record["expected"]["digest"] = "00" * 32
    path.write_text(json.dumps(document))
    # Only the ML-KEM-768 run: the file is checked against Go's digest before anything runs.
    check = _checker(tmp_path, (("ml-kem-768", 100),), lambda _case: None)
    (result,) = list(check(ReferenceAgent()))
    assert result.status == "failed"
    assert "differs from Go crypto/mlkem TestAccumulated" in result.detail
