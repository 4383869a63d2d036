"""Backend detection: liboqs-python is optional and absent here; PyCryptodome is a dependency.

Both are detected lazily and count as absent when they cannot be imported;
the report says which backend computes what.
"""

from __future__ import annotations

import builtins
from typing import Any

import pytest

from pqiot.reference.crypto import backends, pycryptodome_backend

from .conftest import HidePyCryptodome


def test_report_lists_required_backends_with_versions() -> None:
    report = backends.available_backends()
    for name in (
        "cryptography",
        "pycryptodome",
        "kyber-py",
        "dilithium-py",
        "falcon-digital-signature",
    ):
        assert isinstance(report[name], str) and report[name], name
    assert "liboqs-python" in report
    assert report["cryptography:ML-KEM-768"] is backends.cryptography_supports("ML-KEM-768")


def test_oqs_absent_is_detected_without_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_oqs(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "oqs" or name.startswith("oqs."):
            raise ImportError("No module named 'oqs'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_oqs)
    monkeypatch.setattr(backends.importlib, "import_module", lambda name: no_oqs(name))
    backends.oqs_module.cache_clear()
    try:
        assert backends.oqs_module() is None
        assert backends.available_backends()["liboqs-python"] is False
    finally:
        backends.oqs_module.cache_clear()


def test_oqs_that_fails_to_load_its_library_counts_as_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """liboqs-python raises RuntimeError (not ImportError) when liboqs.so is missing."""

    def broken(name: str) -> Any:
        raise RuntimeError("No oqs shared libraries found")

    monkeypatch.setattr(backends.importlib, "import_module", broken)
    backends.oqs_module.cache_clear()
    try:
        assert backends.oqs_module() is None
    finally:
        backends.oqs_module.cache_clear()


def test_unknown_algorithm_is_not_supported_by_cryptography() -> None:
    assert backends.cryptography_supports("ML-KEM-512") is False
    assert backends.cryptography_supports("no-such-algorithm") is False


def test_pycryptodome_computes_every_mlkem_and_mldsa_parameter_set() -> None:
    """pyproject requires pycryptodome>=4.4, the first release with FIPS 203/204 in C."""
    report = backends.available_backends()
    for name in ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"):
        assert pycryptodome_backend.mlkem_backend(name) is not None
        assert report[f"pycryptodome:{name}"] is True
    for name in ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87"):
        assert pycryptodome_backend.mldsa_backend(name) is not None
        assert report[f"pycryptodome:{name}"] is True
    assert pycryptodome_backend.mlkem_backend("Kyber768") is None
    assert pycryptodome_backend.mldsa_backend("Dilithium2") is None


def test_pycryptodome_absent_is_detected_without_error(
    hide_pycryptodome: HidePyCryptodome,
) -> None:
    with hide_pycryptodome():
        assert pycryptodome_backend.mlkem_backend("ML-KEM-768") is None
        assert pycryptodome_backend.mldsa_backend("ML-DSA-44") is None
        report = backends.available_backends()
        assert report["pycryptodome:ML-KEM-768"] is False
        assert report["pycryptodome:ML-DSA-44"] is False


def test_pycryptodome_without_the_derandomised_entry_points_counts_as_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release whose key class lacks _encaps/_decaps cannot take m: kyber-py answers then."""
    keys = pycryptodome_backend.importlib.import_module("Crypto.PublicKey.MLKEM")
    monkeypatch.delattr(keys.MLKEMKey, "_encaps")
    pycryptodome_backend.mlkem_backend.cache_clear()
    try:
        assert pycryptodome_backend.mlkem_backend("ML-KEM-768") is None
    finally:
        pycryptodome_backend.mlkem_backend.cache_clear()
