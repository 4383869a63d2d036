"""ML-KEM (FIPS 203) against the NIST-format KATs shipped in ``cryptography_vectors``.

Each KAT record gives d, z (keygen seed), msg (encapsulation randomness m),
pk/sk/ct/ss, and an invalid ciphertext ct_n with its implicit-rejection key
ss_n. All 1000 records per size run through the default backend
(PyCryptodome's C code, ~1-2 s per size); the independent pure-Python
implementation (kyber-py, ~1 s per 10-25 records) checks every 100th record, and
the fallback tests hide PyCryptodome to reach kyber-py the way a machine
without it would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pqiot.reference.crypto import pycryptodome_backend
from pqiot.reference.crypto.backends import cryptography_supports
from pqiot.reference.crypto.mlkem import (
    MLKEM512,
    MLKEM768,
    MLKEM1024,
    MlKem,
    _coefficients_reduced,
)
from pqiot.reference.crypto.rng import ShakeRng, system_rng
from pqiot.reference.errors import CryptoError
from pqiot.vectors.sources.cryptography_vectors import rsp_records
from pqiot.vectors.sources.nist_rsp import hex_bytes

from .conftest import HidePyCryptodome

KEMS = [MLKEM512, MLKEM768, MLKEM1024]
IDS = [k.name for k in KEMS]
#: Both implementations, for the input checks that must run before either sees the input.
BOTH = KEMS + [k.pure_python() for k in KEMS]
BOTH_IDS = IDS + [f"{name}-pure-python" for name in IDS]
SAMPLE_STEP = 40
PURE_PYTHON_STEP = 100


@functools.cache
def _records(kem: MlKem) -> list[dict[str, bytes]]:
    size = kem.name.rsplit("-", 1)[1]
    path = f"asymmetric/MLKEM/kat_MLKEM_{size}.rsp"
    fields = ("d", "z", "msg", "pk", "sk", "ct", "ss", "ct_n", "ss_n")
    return [
        {f: hex_bytes(r, f, path) for f in fields} | {"count": r["count"].encode()}
        for r in rsp_records(path)
    ]


def _fixed(data: bytes) -> Callable[[int], bytes]:
    """An rng that hands out exactly ``data`` once, in one call of the right size."""

    def rng(n: int) -> bytes:
        assert n == len(data), f"expected a request for {len(data)} bytes, got {n}"
        return data

    return rng


def _check_record(kem: MlKem, r: dict[str, bytes]) -> None:
    assert kem.keygen_internal(r["d"], r["z"]) == (r["pk"], r["sk"])
    assert kem.encaps_internal(r["pk"], r["msg"]) == (r["ss"], r["ct"])
    assert kem.decaps(r["sk"], r["ct"]) == r["ss"]
    assert kem.decaps(r["sk"], r["ct_n"]) == r["ss_n"]


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_kat_full_file(kem: MlKem) -> None:
    """KeyGen_internal, Encaps_internal and Decaps (incl. implicit rejection): all 1000 records."""
    records = _records(kem)
    assert len(records) == 1000
    for r in records:
        _check_record(kem, r)


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_kat_sample_in_the_independent_pure_python_implementation(kem: MlKem) -> None:
    """kyber-py alone (no C code) reproduces a KAT sample: the second implementation agrees."""
    pure = kem.pure_python()
    assert pure._c_backend() is None
    for r in _records(kem)[::PURE_PYTHON_STEP]:
        _check_record(pure, r)


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_c_and_pure_python_backends_agree_beyond_the_kat(kem: MlKem) -> None:
    """Cross-implementation: same keys, ciphertexts and (rejection) keys for fresh inputs."""
    stream = ShakeRng(b"cross-implementation " + kem.name.encode())
    pure = kem.pure_python()
    for _ in range(3):
        d, z, m = stream(32), stream(32), stream(32)
        ek, dk = kem.keygen_internal(d, z)
        assert (ek, dk) == pure.keygen_internal(d, z)
        shared, ciphertext = kem.encaps_internal(ek, m)
        assert (shared, ciphertext) == pure.encaps_internal(ek, m)
        garbage = stream(kem.ciphertext_size)
        for c in (ciphertext, garbage):
            assert kem.decaps(dk, c) == pure.decaps(dk, c)


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_without_pycryptodome_the_kat_entry_points_fall_back_to_kyber_py(
    kem: MlKem, hide_pycryptodome: HidePyCryptodome
) -> None:
    """A machine without PyCryptodome still answers every KAT entry point (more slowly)."""
    r = _records(kem)[0]
    with hide_pycryptodome():
        assert pycryptodome_backend.mlkem_backend(kem.name) is None
        assert kem._c_backend() is None
        _check_record(kem, r)
    assert pycryptodome_backend.mlkem_backend(kem.name) is not None


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_expanded_key_refused_by_pycryptodome_still_decapsulates_as_fips203(kem: MlKem) -> None:
    """A dk with a corrupted dk_PKE passes the §7.3 hash check; FIPS 203 decapsulates with it.

    PyCryptodome refuses such a key (pairwise consistency check), so the
    reference falls back to kyber-py: the answer is an implicit rejection, not an error.
    """
    ek, dk = kem.keygen_internal(bytes(32), bytes(range(32)))
    shared, ciphertext = kem.encaps_internal(ek, bytes(32))
    corrupted = bytearray(dk)
    corrupted[5] ^= 0x01  # inside dk_PKE (the first 384*k bytes), not covered by H(ek)
    fast = pycryptodome_backend.mlkem_backend(kem.name)
    assert fast is not None and fast.decaps(bytes(corrupted), ciphertext) is None
    rejected = kem.decaps(bytes(corrupted), ciphertext)
    assert rejected == kem.pure_python().decaps(bytes(corrupted), ciphertext)
    assert len(rejected) == 32 and rejected != shared


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_kem_interface_reproduces_kat_from_rng(kem: MlKem) -> None:
    """generate() draws d||z, encapsulate() draws m: with the KAT bytes as rng the KAT comes out."""
    for r in _records(kem)[:: SAMPLE_STEP * 4]:
        ek, seed = kem.generate(_fixed(r["d"] + r["z"]))
        assert (ek, seed) == (r["pk"], r["d"] + r["z"])
        encapsulation = kem.encapsulate(ek, _fixed(r["msg"]))
        assert (encapsulation.ciphertext, encapsulation.shared_secret) == (r["ct"], r["ss"])
        assert kem.decapsulate(seed, r["ct"]) == r["ss"]
        assert kem.decapsulate(seed, r["ct_n"]) == r["ss_n"]
        assert kem.decapsulate(r["sk"], r["ct_n"]) == r["ss_n"]


@pytest.mark.parametrize("kem", [MLKEM768, MLKEM1024], ids=["ML-KEM-768", "ML-KEM-1024"])
def test_cryptography_fast_path_matches_all_kat_records(kem: MlKem) -> None:
    """The OpenSSL path (seed -> ek, decapsulate with seed) agrees with all 1000 records."""
    if not cryptography_supports(kem.name):
        pytest.skip(f"this cryptography/OpenSSL build has no {kem.name}")
    for r in _records(kem):
        seed = r["d"] + r["z"]
        assert kem.encapsulation_key_from_seed(seed) == r["pk"]
        assert kem.decapsulate(seed, r["ct"]) == r["ss"]
        assert kem.decapsulate(seed, r["ct_n"]) == r["ss_n"]


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_round_trip_with_system_and_shake_rng(kem: MlKem) -> None:
    ek, seed = kem.generate(system_rng)
    for rng in (system_rng, ShakeRng(b"round trip")):
        encapsulation = kem.encapsulate(ek, rng)
        assert len(encapsulation.ciphertext) == kem.ciphertext_size
        assert kem.decapsulate(seed, encapsulation.ciphertext) == encapsulation.shared_secret


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_encapsulation_is_a_function_of_the_rng_stream(kem: MlKem) -> None:
    ek, _ = kem.generate(ShakeRng(b"key"))
    assert kem.encapsulate(ek, ShakeRng(b"m")) == kem.encapsulate(ek, ShakeRng(b"m"))
    assert kem.encapsulate(ek, ShakeRng(b"m")) != kem.encapsulate(ek, ShakeRng(b"other m"))


def _set_coefficient(ek: bytes, index: int, value: int) -> bytes:
    """Overwrite 12-bit coefficient ``index`` of ByteEncode_12(t) inside ``ek``."""
    out = bytearray(ek)
    group = 3 * (index // 2)
    if index % 2 == 0:
        out[group] = value & 0xFF
        out[group + 1] = (out[group + 1] & 0xF0) | (value >> 8)
    else:
        out[group + 1] = (out[group + 1] & 0x0F) | ((value & 0x0F) << 4)
        out[group + 2] = value >> 4
    return bytes(out)


@pytest.mark.parametrize("kem", BOTH, ids=BOTH_IDS)
@pytest.mark.parametrize(
    ("position", "value"), [("first", 3329), ("first", 4095), ("last", 3329), ("middle", 3330)]
)
def test_modulus_check_rejects_unreduced_coefficients(
    kem: MlKem, position: str, value: int
) -> None:
    """FIPS 203 §7.2: an ek whose ByteEncode_12 part has a coefficient >= q is rejected.

    The check runs before either backend sees the key, with the same CryptoError.
    """
    ek, _ = kem.generate(ShakeRng(b"modulus"))
    count = 256 * kem.params.k
    index = {"first": 0, "last": count - 1, "middle": count // 2 + 1}[position]
    bad = _set_coefficient(ek, index, value)
    assert bad != ek and len(bad) == len(ek)
    with pytest.raises(CryptoError, match="modulus check"):
        kem.encapsulate(bad, ShakeRng())
    with pytest.raises(CryptoError, match="modulus check"):
        kem.encaps_internal(bad, bytes(32))
    # q - 1 is the largest valid value and must still be accepted.
    kem.encaps_internal(_set_coefficient(ek, index, 3328), bytes(32))


@pytest.mark.parametrize("kem", BOTH, ids=BOTH_IDS)
def test_length_checks(kem: MlKem) -> None:
    """FIPS 203 §7.2/§7.3 type checks on ek, ct, dk and the seed."""
    ek, seed = kem.generate(ShakeRng(b"lengths"))
    _, dk = kem.expand_seed(seed)
    ct = kem.encapsulate(ek, ShakeRng()).ciphertext
    with pytest.raises(CryptoError, match="encapsulation key must be"):
        kem.encapsulate(ek[:-1], ShakeRng())
    with pytest.raises(CryptoError, match="encapsulation key must be"):
        kem.encapsulate(ek + b"\x00", ShakeRng())
    for key in (seed, dk):
        with pytest.raises(CryptoError, match="ciphertext must be"):
            kem.decapsulate(key, ct[:-1])
        with pytest.raises(CryptoError, match="ciphertext must be"):
            kem.decapsulate(key, ct + b"\x00")
    with pytest.raises(CryptoError, match="decapsulation key must be"):
        kem.decapsulate(dk[:-1], ct)
    with pytest.raises(CryptoError, match="seed must be"):
        kem.generate(lambda n: bytes(n - 1))
    with pytest.raises(CryptoError, match="m must be 32 bytes"):
        kem.encaps_internal(ek, bytes(31))


@pytest.mark.parametrize("kem", BOTH, ids=BOTH_IDS)
def test_hash_check_rejects_tampered_decapsulation_key(kem: MlKem) -> None:
    """FIPS 203 §7.3: H(ek) stored in dk must match the ek stored in dk."""
    ek, seed = kem.generate(ShakeRng(b"hash check"))
    _, dk = kem.expand_seed(seed)
    ct = kem.encapsulate(ek, ShakeRng()).ciphertext
    k = kem.params.k
    for offset in (384 * k, 768 * k + 32):  # first byte of the embedded ek, first byte of H(ek)
        bad = bytearray(dk)
        bad[offset] ^= 0x01
        with pytest.raises(CryptoError, match="hash check"):
            kem.decapsulate(bytes(bad), ct)


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_implicit_rejection_returns_pseudorandom_key_not_error(kem: MlKem) -> None:
    ek, seed = kem.generate(ShakeRng(b"rejection"))
    encapsulation = kem.encapsulate(ek, ShakeRng())
    tampered = bytes([encapsulation.ciphertext[0] ^ 0x80]) + encapsulation.ciphertext[1:]
    rejected = kem.decapsulate(seed, tampered)
    assert len(rejected) == 32 and rejected != encapsulation.shared_secret
    assert rejected == kem.decapsulate(
        kem.expand_seed(seed)[1], tampered
    )  # J(z || c) is deterministic


def test_parameter_sizes_match_fips203_table3() -> None:
    assert [
        (k.encapsulation_key_size, k.decapsulation_key_size, k.ciphertext_size) for k in KEMS
    ] == [
        (800, 1632, 768),
        (1184, 2400, 1088),
        (1568, 3168, 1568),
    ]
    assert [k.identifier for k in KEMS] == [-65701, -65702, -65703]


def _reduced_by_definition(encoded: bytes) -> bool:
    """FIPS 203 §7.2 written out: every ByteDecode_12 coefficient is < q."""
    value = int.from_bytes(encoded, "little")
    return all((value >> (12 * i)) & 0xFFF < 3329 for i in range(len(encoded) * 8 // 12))


@given(
    st.lists(
        st.sampled_from([0, 1, 2, 3327, 3328, 3329, 3330, 4095])
        | st.integers(min_value=0, max_value=4095),
        min_size=0,
        max_size=64,
    ).filter(lambda c: len(c) % 2 == 0)
)
def test_fast_modulus_check_matches_the_definition(coefficients: list[int]) -> None:
    """The byte-wise modulus check agrees with decoding each 12-bit coefficient (edges: q-1, q)."""
    encoded = bytearray()
    for a, b in zip(coefficients[0::2], coefficients[1::2], strict=True):
        encoded += bytes([a & 0xFF, (a >> 8) | ((b & 0x0F) << 4), b >> 4])
    assert _coefficients_reduced(bytes(encoded)) == _reduced_by_definition(bytes(encoded))


# -- the protocol door: constant-time code only (REQ-GEN-004) ------------------------------


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_protocol_decapsulation_never_reaches_kyber_py(
    kem: MlKem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQ-GEN-004: decapsulate() with a seed or an expanded key runs OpenSSL or mlkem-native.

    kyber-py's implicit rejection compares c and c' with Python ``==``; with its entry
    point booby-trapped, valid and tampered ciphertexts must still decapsulate.
    """

    def trap(*_args: object) -> bytes:
        raise AssertionError("protocol decapsulation reached kyber-py (not constant time)")

    r = _records(kem)[0]
    seed = r["d"] + r["z"]
    monkeypatch.setattr(kem._kyber, "_decaps_internal", trap)
    for key in (seed, r["sk"]):
        assert kem.decapsulate(key, r["ct"]) == r["ss"]
        assert kem.decapsulate(key, r["ct_n"]) == r["ss_n"]


@pytest.mark.parametrize("kem", KEMS, ids=IDS)
def test_protocol_decapsulation_refuses_a_key_pycryptodome_rejects(kem: MlKem) -> None:
    """REQ-GEN-004: the key decaps() hands to kyber-py is refused by decapsulate()."""
    ek, dk = kem.keygen_internal(bytes(32), bytes(range(32)))
    _, ciphertext = kem.encaps_internal(ek, bytes(32))
    corrupted = bytearray(dk)
    corrupted[5] ^= 0x01  # dk_PKE: passes the §7.3 hash check, fails PyCryptodome's PCT
    assert len(kem.decaps(bytes(corrupted), ciphertext)) == 32  # KAT door: FIPS 203 answer
    with pytest.raises(CryptoError, match="REQ-GEN-004"):
        kem.decapsulate(bytes(corrupted), ciphertext)


def test_protocol_decapsulation_without_pycryptodome(hide_pycryptodome: HidePyCryptodome) -> None:
    """REQ-GEN-004: no PyCryptodome: ML-KEM-512 is refused, 768 still runs in OpenSSL."""
    r512, r768 = _records(MLKEM512)[0], _records(MLKEM768)[0]
    with hide_pycryptodome():
        with pytest.raises(CryptoError, match="PyCryptodome"):
            MLKEM512.decapsulate(r512["d"] + r512["z"], r512["ct"])
        assert MLKEM512.decaps(r512["sk"], r512["ct"]) == r512["ss"]  # KAT door: kyber-py
        if cryptography_supports(MLKEM768.name):
            assert MLKEM768.decapsulate(r768["d"] + r768["z"], r768["ct_n"]) == r768["ss_n"]
