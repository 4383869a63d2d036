"""The vector-file parsers of ``pqiot.vectors.sources`` (reused by the vectors CLI)."""

from __future__ import annotations

import pytest

from pqiot.vectors.sources.cryptography_vectors import read_lines
from pqiot.vectors.sources.ed25519_sign_input import parse_sign_input
from pqiot.vectors.sources.nist_rsp import VectorFormatError, hex_bytes, parse_rsp

SAMPLE = """\
# comment
Alen = 32

[Keylen = 128]
[IVlen = 96]

Key = 00ff

Count = 0
PT = 0102
FAIL

COUNT = 1
PT =

[Keylen = 256]
count = 2
PT = aa
"""


def test_sections_defaults_and_flags() -> None:
    records = list(parse_rsp(SAMPLE.splitlines(), "sample.rsp"))
    assert records == [
        {
            "alen": "32",
            "keylen": "128",
            "ivlen": "96",
            "key": "00ff",
            "count": "0",
            "pt": "0102",
            "fail": "FAIL",
        },
        {"alen": "32", "keylen": "128", "ivlen": "96", "key": "00ff", "count": "1", "pt": ""},
        {"alen": "32", "keylen": "256", "count": "2", "pt": "aa"},
    ]
    assert hex_bytes(records[1], "pt") == b""


def test_errors_name_file_line_and_record() -> None:
    bad = ["count = 0", "x = 1", "x = 2"]
    with pytest.raises(VectorFormatError, match=r"bad\.rsp:3 \(record 0\): duplicate key 'x'"):
        list(parse_rsp(bad, "bad.rsp"))
    with pytest.raises(VectorFormatError, match=r"bad\.rsp:2 \(record 0\): cannot parse line"):
        list(parse_rsp(["count = 0", "what is this?"], "bad.rsp"))
    with pytest.raises(VectorFormatError, match="unterminated section header"):
        list(parse_rsp(["[Keylen = 128"], "bad.rsp"))
    with pytest.raises(VectorFormatError, match="record 7 field 'pt' is not hex"):
        hex_bytes({"count": "7", "pt": "zz"}, "pt", "bad.rsp")
    with pytest.raises(VectorFormatError, match="record 7 has no 'ct' field"):
        hex_bytes({"count": "7"}, "ct", "bad.rsp")


def test_mlkem_kat_file_parses_to_1000_records() -> None:
    records = list(parse_rsp(read_lines("asymmetric/MLKEM/kat_MLKEM_512.rsp")))
    assert len(records) == 1000
    assert set(records[0]) == {
        "count",
        "z",
        "d",
        "msg",
        "seed",
        "pk",
        "sk",
        "ct_n",
        "ss_n",
        "ct",
        "ss",
    }


def test_missing_vector_file_is_explained() -> None:
    with pytest.raises(FileNotFoundError, match=r"no file 'asymmetric/none\.rsp'"):
        read_lines("asymmetric/none.rsp")


def test_sign_input_parser() -> None:
    vectors = list(parse_sign_input(read_lines("asymmetric/Ed25519/sign.input")[:3]))
    assert len(vectors) == 3 and vectors[0]["message"] == b""
    with pytest.raises(VectorFormatError, match="record 0"):
        list(parse_sign_input(["00:11:22:33"], "x.input"))
