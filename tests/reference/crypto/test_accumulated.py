"""Accumulated ML-KEM / ML-DSA vectors (``pqiot.vectors.accumulated``).

ML-KEM-768 is checked against the digests published with Go's
``crypto/mlkem`` TestAccumulated; the other schemes have no published digest,
so the tests cross-check the default path (OpenSSL, PyCryptodome's C code)
against the pure-Python one. ``backend="pure"`` reaches kyber-py /
dilithium-py through the KAT entry points, which prefer PyCryptodome when it
is importable, so the pure runs here hide PyCryptodome to stay independent.
"""

from __future__ import annotations

import pytest

from pqiot.vectors.accumulated import PUBLISHED_DIGESTS, SCHEMES, accumulated_digest

from .conftest import HidePyCryptodome


def _pure_python_digest(scheme: str, iterations: int, hide: HidePyCryptodome) -> str:
    with hide():
        return accumulated_digest(scheme, iterations, backend="pure")


def test_mlkem768_100_iterations_matches_go_published_digest() -> None:
    assert accumulated_digest("ML-KEM-768", 100) == PUBLISHED_DIGESTS[("ML-KEM-768", 100)]
    assert PUBLISHED_DIGESTS[("ML-KEM-768", 100)] == (
        "1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415"
    )


@pytest.mark.slow
def test_mlkem768_10k_iterations_matches_go_published_digest() -> None:
    expected = "8a518cc63da366322a8e7a818c7a0d63483cb3528d34a4cf42f35d5ad73f22fc"
    assert accumulated_digest("ML-KEM-768", 10_000) == expected


@pytest.mark.slow
def test_mlkem768_100_iterations_pure_python_backend(hide_pycryptodome: HidePyCryptodome) -> None:
    assert (
        _pure_python_digest("ML-KEM-768", 100, hide_pycryptodome)
        == PUBLISHED_DIGESTS[("ML-KEM-768", 100)]
    )


@pytest.mark.parametrize("scheme", ["ML-KEM-512", "ML-KEM-1024"])
def test_mlkem_backends_agree(scheme: str, hide_pycryptodome: HidePyCryptodome) -> None:
    assert accumulated_digest(scheme, 10) == _pure_python_digest(scheme, 10, hide_pycryptodome)


def test_mldsa44_backends_agree(hide_pycryptodome: HidePyCryptodome) -> None:
    """Keys and signatures from C vs dilithium-py and both verifiers agree over the stream."""
    assert accumulated_digest("ML-DSA-44", 4) == _pure_python_digest(
        "ML-DSA-44", 4, hide_pycryptodome
    )


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["ML-DSA-44", "ML-DSA-65", "ML-DSA-87"])
def test_mldsa_backends_agree_100_iterations(
    scheme: str, hide_pycryptodome: HidePyCryptodome
) -> None:
    assert accumulated_digest(scheme, 100) == _pure_python_digest(scheme, 100, hide_pycryptodome)


def test_digest_depends_on_iteration_count_and_scheme() -> None:
    assert accumulated_digest("ML-KEM-512", 1) != accumulated_digest("ML-KEM-512", 2)
    assert accumulated_digest("ML-KEM-512", 0) == accumulated_digest("ML-KEM-1024", 0)  # empty sink


def test_progress_reports_each_iteration() -> None:
    seen: list[tuple[int, int]] = []
    accumulated_digest("ML-KEM-512", 3, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_bad_arguments_are_explained() -> None:
    assert set(SCHEMES) >= {"ML-KEM-768", "ML-DSA-87"}
    with pytest.raises(ValueError, match="choose one of"):
        accumulated_digest("Kyber768", 1)
    with pytest.raises(ValueError, match="backend must be one of"):
        accumulated_digest("ML-KEM-768", 1, backend="oqs")
    with pytest.raises(ValueError, match="non-negative"):
        accumulated_digest("ML-KEM-768", -1)
