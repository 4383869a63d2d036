"""Backend detection: liboqs-python is optional and absent here; the report says so."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

from pqiot.reference.crypto import backends


def test_report_lists_required_backends_with_versions() -> None:
    report = backends.available_backends()
    for name in ("cryptography", "kyber-py", "dilithium-py", "falcon-digital-signature"):
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
