"""The same primitive on each installed backend: ``cryptography`` (OpenSSL), PyCryptodome, pure Python.

The reference picks ``cryptography`` when it can (random keys and hedged signing),
PyCryptodome's C code for everything with explicit randomness (KATs, TAP,
deterministic signing) and the pure-Python packages as fallback and second
implementation. Benchmarking all three shows what each choice costs; each
benchmark checks its result against another backend so they measure the same
function.
"""

from __future__ import annotations

from typing import Any

import pytest

from pqiot.reference.crypto.backends import cryptography_supports, oqs_module
from pqiot.reference.crypto.mldsa import MLDSA44
from pqiot.reference.crypto.mlkem import MLKEM768
from pqiot.reference.crypto.rng import ShakeRng, system_rng

needs_cryptography_kem = pytest.mark.skipif(
    not cryptography_supports("ML-KEM-768"), reason="cryptography without ML-KEM-768"
)
needs_cryptography_dsa = pytest.mark.skipif(
    not cryptography_supports("ML-DSA-44"), reason="cryptography without ML-DSA-44"
)

SEED = ShakeRng(b"backends")(64)
#: kyber-py / dilithium-py only: what the KAT entry points cost without PyCryptodome.
PURE_KEM = MLKEM768.pure_python()
PURE_DSA = MLDSA44.pure_python()


@needs_cryptography_kem
def test_mlkem768_keygen_cryptography(benchmark: Any) -> None:
    ek = benchmark(MLKEM768.encapsulation_key_from_seed, SEED)
    assert ek == MLKEM768.keygen_internal(SEED[:32], SEED[32:])[0]


def test_mlkem768_keygen_internal_default_backend(benchmark: Any) -> None:
    ek, _ = benchmark(MLKEM768.keygen_internal, SEED[:32], SEED[32:])
    assert ek == PURE_KEM.keygen_internal(SEED[:32], SEED[32:])[0]


def test_mlkem768_keygen_pure_python(benchmark: Any) -> None:
    ek, _ = benchmark(PURE_KEM.keygen_internal, SEED[:32], SEED[32:])
    assert len(ek) == MLKEM768.encapsulation_key_size


@needs_cryptography_kem
def test_mlkem768_encaps_cryptography(benchmark: Any) -> None:
    ek = MLKEM768.encapsulation_key_from_seed(SEED)
    result = benchmark(MLKEM768.encapsulate, ek, system_rng)
    assert MLKEM768.decapsulate(SEED, result.ciphertext) == result.shared_secret


def test_mlkem768_encaps_pure_python(benchmark: Any) -> None:
    ek, _ = MLKEM768.keygen_internal(SEED[:32], SEED[32:])
    shared, ciphertext = benchmark(PURE_KEM.encaps_internal, ek, bytes(32))
    assert MLKEM768.decapsulate(SEED, ciphertext) == shared


@needs_cryptography_kem
def test_mlkem768_decaps_cryptography(benchmark: Any) -> None:
    ek, _ = MLKEM768.keygen_internal(SEED[:32], SEED[32:])
    shared, ciphertext = MLKEM768.encaps_internal(ek, bytes(32))
    assert benchmark(MLKEM768.decapsulate, SEED, ciphertext) == shared


@pytest.mark.skipif(oqs_module() is not None, reason="liboqs installed: decaps would use it")
def test_mlkem768_decaps_pure_python(benchmark: Any) -> None:
    ek, dk = MLKEM768.keygen_internal(SEED[:32], SEED[32:])
    shared, ciphertext = MLKEM768.encaps_internal(ek, bytes(32))
    assert benchmark(PURE_KEM.decaps, dk, ciphertext) == shared


@needs_cryptography_dsa
def test_mldsa44_sign_cryptography(benchmark: Any) -> None:
    """Hedged signing with the seed key (the only mode cryptography offers)."""
    xi = SEED[:32]
    pk = MLDSA44.public_key_from_seed(xi)
    signature = benchmark(MLDSA44.sign, xi, b"m" * 32, system_rng)
    assert MLDSA44.verify_internal(pk, b"\x00\x00" + b"m" * 32, signature)


def test_mldsa44_sign_internal_default_backend(benchmark: Any) -> None:
    """Deterministic Sign_internal on the default backend (PyCryptodome when installed)."""
    _pk, sk = MLDSA44.keygen_internal(SEED[:32])
    formatted = b"\x00\x00" + b"m" * 32
    signature = benchmark(MLDSA44.sign_internal, sk, formatted, bytes(32))
    assert signature == PURE_DSA.sign_internal(sk, formatted, bytes(32))


def test_mldsa44_sign_pure_python(benchmark: Any) -> None:
    """Sign_internal with a fixed rnd: one point of the rejection-loop distribution."""
    pk, sk = MLDSA44.keygen_internal(SEED[:32])
    formatted = b"\x00\x00" + b"m" * 32
    signature = benchmark.pedantic(
        PURE_DSA.sign_internal, args=(sk, formatted, bytes(32)), rounds=3, iterations=1
    )
    assert MLDSA44.verify(pk, b"m" * 32, signature)


@needs_cryptography_dsa
def test_mldsa44_verify_cryptography(benchmark: Any) -> None:
    pk, sk = MLDSA44.keygen_internal(SEED[:32])
    signature = MLDSA44.sign_internal(sk, b"\x00\x00" + b"m" * 32, bytes(32))
    assert benchmark(MLDSA44.verify, pk, b"m" * 32, signature)


def test_mldsa44_verify_pure_python(benchmark: Any) -> None:
    pk, sk = MLDSA44.keygen_internal(SEED[:32])
    formatted = b"\x00\x00" + b"m" * 32
    signature = MLDSA44.sign_internal(sk, formatted, bytes(32))
    assert benchmark(PURE_DSA.verify_internal, pk, formatted, signature)
