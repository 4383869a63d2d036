"""Vector files: deterministic writing and located, typed reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pqiot.vectors.jsonfile import (
    SCHEMA_VERSION,
    RecordView,
    VectorFileError,
    dumps,
    load_vector_file,
    vector_document,
)


def test_dumps_is_canonical_sorted_indented_with_trailing_newline() -> None:
    text = dumps({"b": 1, "a": {"d": "ff", "c": [1, 2]}})
    assert (
        text
        == '{\n  "a": {\n    "c": [\n      1,\n      2\n    ],\n    "d": "ff"\n  },\n  "b": 1\n}\n'
    )
    assert dumps(json.loads(text)) == text


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "v.json"
    path.write_text(json.dumps(document))
    return path


def test_header_problems_name_the_file(tmp_path: Path) -> None:
    good = vector_document("s", "d", [])
    for broken, message in (
        ({**good, "schema_version": SCHEMA_VERSION + 1}, "schema_version"),
        ({k: v for k, v in good.items() if k != "records"}, "records"),
        ({k: v for k, v in good.items() if k != "source"}, "source"),
        ([1, 2], "top level"),
    ):
        path = _write(tmp_path, broken)
        with pytest.raises(VectorFileError, match=message) as info:
            load_vector_file(path)
        assert str(path) in str(info.value)
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(VectorFileError, match="not valid JSON"):
        load_vector_file(path)
    with pytest.raises(VectorFileError, match="cannot read"):
        load_vector_file(tmp_path / "missing.json")
    with pytest.raises(VectorFileError, match="expected 'other'"):
        load_vector_file(_write(tmp_path, good), "other")


def test_record_errors_name_file_record_and_field() -> None:
    view = RecordView({"inputs": {"ek": "zz", "m": "0011", "n": "7"}}, "f.json", 4)
    inputs = view.sub("inputs")
    with pytest.raises(VectorFileError, match=r"f\.json: record 4 .*'inputs\.ek' is not valid hex"):
        inputs.hex("ek")
    with pytest.raises(VectorFileError, match=r"record 4 .*'inputs\.m' must be 32 bytes, found 2"):
        inputs.hex("m", 32)
    with pytest.raises(VectorFileError, match=r"record 4 .*missing field 'inputs\.c'"):
        inputs.hex("c")
    with pytest.raises(VectorFileError, match="must be an integer"):
        inputs.integer("n")
    assert inputs.hex("m", 2) == b"\x00\x11"
