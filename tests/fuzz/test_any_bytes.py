"""REQ-ENC-011: any byte string either parses or raises the parser's one typed error.

Each registry harness is fed bytes Hypothesis draws — random ones and mutants
of the harness's valid seeds (byte edits, truncations, insertions) — under
the time and memory bounds of :func:`pqiot.fuzz.contract.measure`.
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pqiot.fuzz.contract import ContractViolation, measure
from pqiot.fuzz.harnesses import HARNESSES, Harness, get
from pqiot.fuzz.profiles import fuzz_settings

#: Harnesses whose single input costs milliseconds (signatures, files, handshakes).
EXPENSIVE = {
    "pubsub_verify",
    "pubsub_verify_encrypted",
    "identity_key_file",
    "keystore_file",
    "identity_credential_file",
    "session_responder",
    "session_initiator",
    "session_responder_psk",
    "record_unprotect",
}


@functools.cache
def seeds(name: str) -> tuple[bytes, ...]:
    return tuple(get(name).seeds())


@st.composite
def mutants(draw: st.DrawFn, harness: Harness) -> bytes:
    """A seed of the harness with a few byte-level edits, or plain random bytes."""
    pool = seeds(harness.name)
    if not pool or draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            del data[position:]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif data:
            del data[position]
    return bytes(data)


@pytest.mark.parametrize("harness", HARNESSES, ids=lambda h: h.name)
def test_any_input_meets_the_parser_contract(harness: Harness) -> None:
    scale = 0.2 if harness.name in EXPENSIVE else 1.0

    @fuzz_settings(scale)
    @given(mutants(harness))
    def check(data: bytes) -> None:
        measure(harness.one_input, data)

    check()


@pytest.mark.parametrize("harness", HARNESSES, ids=lambda h: h.name)
def test_every_seed_passes_its_harness(harness: Harness) -> None:
    """The seeds are the reference's own valid output: none of them may break the contract."""
    assert seeds(harness.name), f"{harness.name} has no seeds"
    for data in seeds(harness.name):
        harness.one_input(data)


def test_measure_rejects_an_input_that_allocates_by_a_declared_length() -> None:
    """The memory bound is real: a parser that trusts a length field is caught."""

    def trusting_parser(data: bytes) -> None:
        declared = int.from_bytes(data[:4], "big")
        bytearray(declared)

    with pytest.raises(ContractViolation, match="allocated"):
        measure(trusting_parser, b"\x04\x00\x00\x00")
