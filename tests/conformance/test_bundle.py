"""The signed evidence bundle detects every change: modified, missing, extra files, bad signature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pqiot.conformance.bundle import (
    MANIFEST,
    SIGNATURE,
    BundleError,
    SigningKey,
    verify_bundle,
    write_manifest,
)
from pqiot.reference.crypto import registry
from pqiot.reference.crypto.rng import ShakeRng


@pytest.fixture(scope="module")
def key() -> SigningKey:
    public, private = registry.signature(-49).generate(ShakeRng(b"bundle test key"))
    return SigningKey(public, private, False, "test key")


@pytest.fixture
def bundle(tmp_path: Path, key: SigningKey) -> Path:
    (tmp_path / "report.json").write_text('{"a": 1}')
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "t.log").write_text("log")
    write_manifest(tmp_path, key)
    return tmp_path


def test_untouched_bundle_verifies(bundle: Path, key: SigningKey) -> None:
    manifest = verify_bundle(bundle, key.public_key)
    assert set(manifest["files"]) == {"report.json", "logs/t.log"}
    assert manifest["signature_alg"] == "ML-DSA-65" and manifest["ephemeral_key"] is False


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: (d / "report.json").write_text('{"a": 2}'), "modified file: report.json"),
        (lambda d: (d / "logs" / "t.log").unlink(), "missing file: logs/t.log"),
        (lambda d: (d / "extra.txt").write_text("x"), "extra file not in the manifest: extra.txt"),
    ],
    ids=["modified", "missing", "extra"],
)
def test_any_file_change_is_detected(bundle: Path, change, problem: str) -> None:  # type: ignore[no-untyped-def]
    change(bundle)
    with pytest.raises(BundleError) as caught:
        verify_bundle(bundle)
    assert problem in caught.value.problems


def test_edited_manifest_breaks_the_signature(bundle: Path) -> None:
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"]["report.json"] = "00" * 32
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    with pytest.raises(BundleError, match="signature"):
        verify_bundle(bundle)


def test_a_different_trusted_key_is_refused(bundle: Path) -> None:
    other, _ = registry.signature(-49).generate(ShakeRng(b"someone else"))
    with pytest.raises(BundleError, match="different key"):
        verify_bundle(bundle, other)


def test_missing_signature_is_not_a_bundle(bundle: Path) -> None:
    (bundle / SIGNATURE).unlink()
    with pytest.raises(BundleError, match="not an evidence bundle"):
        verify_bundle(bundle)


def test_signing_key_from_pqiot_keys_generate(tmp_path: Path) -> None:
    """--signing-key takes an ML-DSA-65 .key file and refuses any other algorithm."""
    from pqiot.cli.main import main
    from pqiot.conformance.bundle import load_signing_key

    assert (
        main(["keys", "generate", "--alg", "ML-DSA-65", "--out", str(tmp_path), "--name", "s"]) == 0
    )
    key = load_signing_key(tmp_path / "s.key")
    assert not key.ephemeral and key.source == str(tmp_path / "s.key")
    assert (
        main(["keys", "generate", "--alg", "ML-DSA-44", "--out", str(tmp_path), "--name", "w"]) == 0
    )
    with pytest.raises(BundleError, match="ML-DSA-65"):
        load_signing_key(tmp_path / "w.key")
