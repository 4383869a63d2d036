"""`pqiot keys generate`: the subject a generated credential carries.

Two peers whose credentials share a ``sub`` refuse each other (REQ-CRED-007),
so the default subject must differ between independently generated keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pqiot.cli.main import main
from pqiot.reference.identity import load_credential
from pqiot.reference.trust import kid_hex


def _generate(out: Path, *extra: str) -> None:
    assert main(["keys", "generate", "--alg", "ML-DSA-44", "--out", str(out), *extra]) == 0


def test_default_subject_is_file_stem_and_kid(tmp_path: Path) -> None:
    _generate(tmp_path)
    credential = load_credential(tmp_path / "ml-dsa-44.cred")
    assert credential.subject == f"ml-dsa-44-{kid_hex(credential.kid)}"
    summary = json.loads((tmp_path / "ml-dsa-44.json").read_text())
    assert summary["subject"] == credential.subject


def test_default_subject_follows_name_and_kid(tmp_path: Path) -> None:
    _generate(tmp_path, "--name", "plc-17", "--kid", "a1b2")
    assert load_credential(tmp_path / "plc-17.cred").subject == "plc-17-a1b2"


def test_two_default_identities_have_different_subjects(tmp_path: Path) -> None:
    """REQ-CRED-007: keys generated with all defaults can be peers of one session."""
    _generate(tmp_path / "a")
    _generate(tmp_path / "b")
    first, second = (load_credential(tmp_path / d / "ml-dsa-44.cred") for d in ("a", "b"))
    assert first.kid != second.kid
    assert first.subject != second.subject


def test_explicit_subject_is_kept(tmp_path: Path) -> None:
    _generate(tmp_path, "--subject", "line-3.plc-17")
    assert load_credential(tmp_path / "ml-dsa-44.cred").subject == "line-3.plc-17"


def test_generate_prints_the_subject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _generate(tmp_path, "--subject", "gw-1")
    assert "subject 'gw-1'" in capsys.readouterr().out
