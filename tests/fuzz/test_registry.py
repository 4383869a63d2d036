"""The harness registry, its checked-in artifacts and the structure-aware mutator."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest

from pqiot.fuzz import corpus
from pqiot.fuzz.dictionaries import render
from pqiot.fuzz.harnesses import HARNESSES, get, names
from pqiot.fuzz.mutator import custom_mutator, mutate_cbor
from pqiot.fuzz.seeds import join_payloads, split_payloads
from pqiot.reference import cbor
from pqiot.reference.errors import DecodeError

FUZZ_DIR = Path(__file__).resolve().parents[2] / "fuzz"


def test_every_name_is_unique_and_resolvable() -> None:
    assert len(set(names())) == len(HARNESSES)
    for name in names():
        assert get(name).name == name


def test_an_unknown_name_is_an_error_listing_the_names() -> None:
    with pytest.raises(KeyError, match="choose one of: cbor, "):
        get("nope")


@pytest.mark.parametrize("harness", HARNESSES, ids=lambda h: h.name)
def test_checked_in_entrypoint_and_dictionary_match_the_registry(harness: object) -> None:
    """fuzz/harnesses and fuzz/dictionaries are generated; regenerate them when this fails:
    python -m pqiot.fuzz.corpus entrypoints --out fuzz/harnesses (and dicts --out fuzz/dictionaries)."""
    h = get(harness.name)  # type: ignore[attr-defined]
    entry = FUZZ_DIR / "harnesses" / f"fuzz_{h.name}.py"
    assert entry.read_text() == corpus.entrypoint_source(h)
    assert (FUZZ_DIR / "dictionaries" / f"{h.name}.dict").read_text() == render(h.dictionary)


def test_no_stale_entrypoints() -> None:
    files = {p.stem.removeprefix("fuzz_") for p in (FUZZ_DIR / "harnesses").glob("fuzz_*.py")}
    assert files == set(names())


def test_seed_corpus_includes_vector_values(tmp_path: Path) -> None:
    vectors = tmp_path / "v.json"
    vectors.write_text('{"records": [{"id": "message_1/x", "inputs": {"message": "0102"}}]}')
    seeds = corpus.seed_inputs(get("edhoc_message_1"), [tmp_path])
    assert b"\x01\x02" in seeds


def test_multi_payload_inputs_round_trip() -> None:
    payloads = [b"", b"\x00abc", bytes(300)]
    assert split_payloads(join_payloads(payloads)) == payloads
    assert split_payloads(b"\x00\x05ab") == [b"ab"]  # a short last payload takes the rest
    assert split_payloads(b"\x07") == [b"\x07"]


def test_cbor_mutator_keeps_well_formed_cbor_when_it_edits_structure() -> None:
    """Structural edits re-encode the items, so the output is a valid CBOR sequence."""
    seed = cbor.encode_sequence(0, [-102, -101], bytes(64), 5)

    def unchanged(data: bytes, max_size: int) -> bytes:
        return b"BYTE-LEVEL"

    structural = 0
    for s in range(200):
        out = mutate_cbor(seed, 4096, s, unchanged)
        if out == b"BYTE-LEVEL":
            continue
        structural += 1
        assert out != seed
        cbor.decode_sequence(out)  # must not raise
    assert structural > 50


def test_cbor_mutator_falls_back_to_bytes_for_non_cbor() -> None:
    def marker(data: bytes, max_size: int) -> bytes:
        return b"fallback"

    assert {mutate_cbor(b"\xff\xff", 100, s, marker) for s in range(20)} == {b"fallback"}
    assert custom_mutator("bytes", marker) is None


def test_mutator_respects_max_size() -> None:
    seed = cbor.encode_sequence(bytes(100))
    rng = random.Random(0)
    for _ in range(100):
        out = mutate_cbor(seed, 110, rng.randrange(1 << 30), lambda d, n: d[:n])
        assert len(out) <= 110
        with contextlib.suppress(DecodeError):
            cbor.decode_sequence(out)
