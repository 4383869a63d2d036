"""ML-DSA (FIPS 204) against the deterministic pure-mode KATs in ``cryptography_vectors``.

Each record: seed xi, pk, expanded sk, msg, ctx and sm = signature || msg,
signed deterministically (rnd = 0^32) with the record's context. Fast tests
use every 25th record (4 of 100 per size, ~0.3 s per ML-DSA-87
signature in dilithium-py); ``-m slow`` runs all.
"""

from __future__ import annotations

import functools

import pytest

from pqiot.reference.crypto.mldsa import MLDSA44, MLDSA65, MLDSA87, MlDsa
from pqiot.reference.crypto.rng import ShakeRng, system_rng
from pqiot.reference.errors import CryptoError
from pqiot.vectors.sources.cryptography_vectors import rsp_records
from pqiot.vectors.sources.nist_rsp import hex_bytes

SCHEMES = [MLDSA44, MLDSA65, MLDSA87]
IDS = [s.name for s in SCHEMES]
SAMPLE_STEP = 25


@functools.cache
def _records(scheme: MlDsa) -> list[dict[str, bytes]]:
    size = scheme.name.rsplit("-", 1)[1]
    path = f"asymmetric/MLDSA/kat_MLDSA_{size}_det_pure.rsp"
    out = []
    for r in rsp_records(path):
        record = {f: hex_bytes(r, f, path) for f in ("xi", "pk", "sk", "msg", "sm", "ctx")}
        assert len(record["sm"]) == int(r["smlen"]) and len(record["msg"]) == int(r["mlen"])
        record["sig"] = record["sm"][: len(record["sm"]) - len(record["msg"])]
        out.append(record)
    return out


def _check_record(scheme: MlDsa, r: dict[str, bytes], *, both_key_forms: bool = False) -> None:
    assert scheme.keygen_internal(r["xi"]) == (r["pk"], r["sk"])
    assert scheme.public_key_from_seed(r["xi"]) == r["pk"]
    assert scheme.sign_with_context(r["sk"], r["msg"], r["ctx"], bytes(32)) == r["sig"]
    if both_key_forms:
        assert scheme.sign_with_context(r["xi"], r["msg"], r["ctx"], bytes(32)) == r["sig"]
    assert scheme.verify_with_context(r["pk"], r["msg"], r["sig"], r["ctx"])
    assert not scheme.verify_with_context(r["pk"], r["msg"], r["sig"], r["ctx"] + b"x")


@pytest.mark.parametrize("scheme", SCHEMES, ids=IDS)
def test_kat_sample_keygen_sign_verify(scheme: MlDsa) -> None:
    records = _records(scheme)
    assert len(records) == 100
    assert all(len(r["sig"]) == scheme.signature_size for r in records)
    for r in records[::SAMPLE_STEP]:
        _check_record(scheme, r)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", SCHEMES, ids=IDS)
def test_kat_full_file(scheme: MlDsa) -> None:
    for r in _records(scheme):
        _check_record(scheme, r, both_key_forms=True)


@pytest.mark.parametrize("scheme", SCHEMES, ids=IDS)
def test_kat_verify_all_records(scheme: MlDsa) -> None:
    """Verification of every KAT signature (fast: cryptography) and rejection of a flipped bit."""
    for r in _records(scheme):
        assert scheme.verify_with_context(r["pk"], r["msg"], r["sig"], r["ctx"])
    r = _records(scheme)[0]
    flipped = r["sig"][:5] + bytes([r["sig"][5] ^ 0x10]) + r["sig"][6:]
    assert not scheme.verify_with_context(r["pk"], r["msg"], flipped, r["ctx"])


@pytest.mark.parametrize("scheme", SCHEMES, ids=IDS)
def test_deterministic_sign_is_pure_mldsa_with_empty_context(scheme: MlDsa) -> None:
    """sign(sk, msg) = ML-DSA.Sign with ctx = '' and rnd = 0^32; verify() checks empty context."""
    pk, xi = scheme.generate(ShakeRng(b"det"))
    signature = scheme.sign(xi, b"message")
    assert signature == scheme.sign_with_context(xi, b"message", b"", bytes(32))
    assert scheme.verify(pk, b"message", signature)
    assert scheme.verify_with_context(pk, b"message", signature, b"")
    assert not scheme.verify(pk, b"messagE", signature)


@pytest.mark.parametrize("scheme", SCHEMES, ids=IDS)
def test_hedged_sign_draws_rnd_from_rng(scheme: MlDsa) -> None:
    pk, xi = scheme.generate(ShakeRng(b"hedged"))
    rnd_stream = ShakeRng(b"rnd")
    expected = scheme.sign_with_context(xi, b"m", b"", ShakeRng(b"rnd")(32))
    assert scheme.sign(xi, b"m", rnd_stream) == expected
    assert rnd_stream.position == 32
    assert expected != scheme.sign(xi, b"m")
    assert scheme.verify(pk, b"m", scheme.sign(xi, b"m", system_rng))


@pytest.mark.parametrize("scheme", SCHEMES, ids=IDS)
def test_verify_returns_false_on_malformed_input(scheme: MlDsa) -> None:
    pk, xi = scheme.generate(ShakeRng(b"malformed"))
    signature = scheme.sign(xi, b"m")
    cases = [
        (pk[:-1], signature),
        (pk + b"\x00", signature),
        (pk, signature[:-1]),
        (pk, signature + b"\x00"),
        (b"", b""),
        (bytes(scheme.public_key_size), bytes(scheme.signature_size)),
        (pk, b"\xff" * scheme.signature_size),
    ]
    for public_key, sig in cases:
        assert scheme.verify(public_key, b"m", sig) is False


@pytest.mark.parametrize("scheme", SCHEMES, ids=IDS)
def test_private_key_length_is_checked(scheme: MlDsa) -> None:
    with pytest.raises(CryptoError, match="32-byte seed"):
        scheme.sign(bytes(31), b"m")
    with pytest.raises(CryptoError, match="seed xi must be 32 bytes"):
        scheme.generate(lambda n: bytes(n + 1))


def test_sizes_and_cose_ids_match_fips204() -> None:
    assert [
        (s.public_key_size, s.secret_key_size, s.signature_size, s.cose_alg) for s in SCHEMES
    ] == [
        (1312, 2560, 2420, -48),
        (1952, 4032, 3309, -49),
        (2592, 4896, 4627, -50),
    ]
