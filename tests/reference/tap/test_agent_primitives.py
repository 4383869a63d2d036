"""The reference Test Agent: status codes, limits, primitives, measurement (spec chapter 13)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from pqiot.reference import cbor
from pqiot.reference.tap.codes import Command, Status
from pqiot.vectors.accumulated import accumulated_digest

from .conftest import AgentHarness

HOSTILE: list[tuple[str, bytes, int]] = [
    ("not CBOR", b"\xff\xff", Status.MALFORMED),
    ("two items", cbor.encode([2, 1]), Status.MALFORMED),
    ("unknown command", cbor.encode([200, 1, {}]), Status.UNKNOWN_COMMAND),
    ("missing argument", cbor.encode([2, 1, {}]), Status.MALFORMED),
    ("wrong type", cbor.encode([2, 1, {"data": "text"}]), Status.MALFORMED),
    (
        "ML-KEM set 999",
        cbor.encode([16, 1, {"set": 999, "d": bytes(32), "z": bytes(32)}]),
        Status.UNSUPPORTED,
    ),
    (
        "oversized data",
        cbor.encode([58, 1, {"alg": "sha256", "data": bytes(4097)}]),
        Status.TOO_LARGE,
    ),
    (
        "XOF len 1025",
        cbor.encode([58, 1, {"alg": "shake128", "data": b"", "len": 1025}]),
        Status.INVALID_INPUT,
    ),
    (
        "HKDF len 8161",
        cbor.encode([56, 1, {"hash": -16, "salt": b"", "ikm": b"", "info": b"", "len": 8161}]),
        Status.INVALID_INPUT,
    ),
    (
        "n above 1e6",
        cbor.encode([64, 1, {"prim": "ml-kem-768", "n": 1_000_001}]),
        Status.INVALID_INPUT,
    ),
    ("unknown session", cbor.encode([88, 1, {"session": 42}]), Status.INVALID_STATE),
    (
        "request above max_tap_request",
        cbor.encode([2, 1, {"data": bytes(70000)}]),
        Status.TOO_LARGE,
    ),
]


@pytest.mark.parametrize(("label", "message", "status"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_request_gets_its_status_and_the_agent_still_answers_echo(
    tap: AgentHarness, label: str, message: bytes, status: int
) -> None:
    """REQ-TAP-004/005/006/007: the right status, then a correct ECHO."""
    reply = tap.raw(message)
    assert reply[1] == status, (label, reply)
    assert isinstance(reply[2].get("error"), str)
    assert tap.ok(Command.ECHO, {"data": b"alive"}) == {"data": b"alive"}


def test_identify_is_a_consistent_conformance_statement(tap: AgentHarness) -> None:
    """REQ-TAP-008: the statement lists only implemented commands, and -102 and method 0."""
    identity = tap.ok(Command.IDENTIFY)
    assert identity["tap"] == 1 and identity["build"] == "test"
    assert -102 in identity["suites"] and 0 in identity["methods"]
    assert identity["measure"] == {"cycles": "host-ns", "stack": "none", "clock_hz": 1_000_000_000}
    for command in identity["commands"]:
        status, _ = tap(command, {})
        assert status != Status.UNKNOWN_COMMAND, command
    assert tap(Command.PUBLISH, {})[0] == Status.UNKNOWN_COMMAND
    assert Command.PUBLISH not in identity["commands"]


def test_mlkem_keygen_matches_fips203_kat(tap: AgentHarness) -> None:
    """REQ-TAP-009: KeyGen_internal(d, z) of the first ML-KEM-768 KAT record (cryptography-vectors)."""
    import cryptography_vectors

    with cryptography_vectors.open_vector_file("asymmetric/MLKEM/kat_MLKEM_768.rsp", "r") as f:
        record: dict[str, str] = {}
        for line in f:
            if " = " in line:
                key, value = line.strip().split(" = ", 1)
                record[key] = value
            elif record:
                break
    result = tap.ok(
        Command.MLKEM_KEYGEN,
        {"set": 768, "d": bytes.fromhex(record["d"]), "z": bytes.fromhex(record["z"])},
    )
    assert (
        hashlib.sha3_256(result["ek"]).hexdigest()
        == hashlib.sha3_256(bytes.fromhex(record["pk"])).hexdigest()
    )
    assert result["dk"] == bytes.fromhex(record["sk"])


def test_encaps_rejects_an_ek_failing_the_modulus_check(tap: AgentHarness) -> None:
    """REQ-TAP-010: status 6 for an ek whose first coefficient is >= q."""
    ek = tap.ok(Command.MLKEM_KEYGEN, {"set": 768, "d": bytes(32), "z": bytes(32)})["ek"]
    bad = b"\xff\x0f" + ek[2:]
    status, _ = tap(Command.MLKEM_ENCAPS, {"set": 768, "ek": bad, "m": bytes(32)})
    assert status == Status.INVALID_INPUT
    good = tap.ok(Command.MLKEM_ENCAPS, {"set": 768, "ek": ek, "m": bytes(32)})
    assert len(good["c"]) == 1088 and len(good["k"]) == 32


def test_failed_tag_and_bad_signature_are_results_not_errors(tap: AgentHarness) -> None:
    """REQ-TAP-011: valid = false with status 0, and no pt."""
    args: dict[str, Any] = {"alg": 3, "key": bytes(32), "nonce": bytes(12), "aad": b"a"}
    ct = tap.ok(Command.AEAD_SEAL, {**args, "pt": b"secret"})["ct"]
    assert tap.ok(Command.AEAD_OPEN, {**args, "ct": ct}) == {"valid": True, "pt": b"secret"}
    assert tap.ok(Command.AEAD_OPEN, {**args, "ct": ct[:-1] + bytes([ct[-1] ^ 1])}) == {
        "valid": False
    }
    keys = tap.ok(Command.SIG_KEYGEN, {"alg": -48, "seed": bytes(32)})
    sig = tap.ok(Command.SIG_SIGN, {"alg": -48, "sk": keys["sk"], "msg": b"m", "rnd": bytes(32)})[
        "sig"
    ]
    verify = {"alg": -48, "pk": keys["pk"], "msg": b"m"}
    assert tap.ok(Command.SIG_VERIFY, {**verify, "sig": sig}) == {"valid": True}
    assert tap.ok(Command.SIG_VERIFY, {**verify, "sig": bytes(len(sig))}) == {"valid": False}


def test_hkdf_rfc5869_case_1(tap: AgentHarness) -> None:
    """RFC 5869 Appendix A.1 (HKDF-SHA-256), full and extract modes."""
    args = {
        "hash": -16,
        "salt": bytes.fromhex("000102030405060708090a0b0c"),
        "ikm": bytes.fromhex("0b" * 22),
        "info": bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        "len": 42,
    }
    okm = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    prk = "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    assert tap.ok(Command.HKDF, args)["okm"].hex() == okm
    assert tap.ok(Command.HKDF, {**args, "mode": "extract"})["okm"].hex() == prk


def test_hash_and_xof(tap: AgentHarness) -> None:
    assert (
        tap.ok(Command.HASH, {"alg": "sha3-256", "data": b"abc"})["digest"]
        == hashlib.sha3_256(b"abc").digest()
    )
    assert (
        tap.ok(Command.HASH, {"alg": "shake128", "data": b"", "len": 5})["digest"].hex()
        == "7f9c2ba4e8"
    )


def test_accumulated_dispatches_to_the_section_13_7_procedure(tap: AgentHarness) -> None:
    """ACCUMULATED returns the digest and n of the §13.7 run (the reference's own procedure)."""
    result = tap.ok(Command.ACCUMULATED, {"prim": "ml-kem-512", "n": 2})
    assert result == {"digest": bytes.fromhex(accumulated_digest("ML-KEM-512", 2)), "n": 2}
    assert tap(Command.ACCUMULATED, {"prim": "x25519", "n": 1})[0] == Status.UNSUPPORTED


@pytest.mark.slow
def test_accumulated_mlkem768_100_is_the_go_digest(tap: AgentHarness) -> None:
    """REQ-TAP-012: 1114b1b6…564415 for n = 100."""
    result = tap.ok(Command.ACCUMULATED, {"prim": "ml-kem-768", "n": 100})
    assert (
        result["digest"].hex() == "1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415"
    )


def test_measure_reports_wall_clock_ns_of_the_last_measured_command(tap: AgentHarness) -> None:
    """REQ-TAP-017/018: host builds say host-ns; IDENTIFY, ECHO and MEASURE are not measured."""
    assert tap(Command.MEASURE)[0] == Status.INVALID_STATE
    tap.ok(Command.MLKEM_KEYGEN, {"set": 512, "d": bytes(32), "z": bytes(32)})
    tap.ok(Command.ECHO, {"data": b""})
    tap.ok(Command.IDENTIFY)
    measurement = tap.ok(Command.MEASURE)
    assert measurement["cmd"] == Command.MLKEM_KEYGEN
    assert measurement["cycle_source"] == "host-ns" and measurement["clock_hz"] == 1_000_000_000
    assert measurement["cycles"] > 0 and measurement["stack_bytes"] is None
    tap.ok(Command.RESET, {"scope": "all"})
    assert tap(Command.MEASURE)[0] == Status.INVALID_STATE, "REQ-TAP-016: RESET all drops it"
