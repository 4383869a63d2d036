"""Vendor deviations files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pqiot.conformance.deviations import DeviationError, load_deviations

KNOWN = {"REQ-HS-004", "REQ-REPLAY-003"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deviations.toml"
    path.write_text(text)
    return path


def test_toml_deviations_are_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[deviation]]\nrequirement = "REQ-REPLAY-003"\nreason = "window of 32"\n',
    )
    loaded = load_deviations(path, KNOWN)
    assert loaded["REQ-REPLAY-003"].reason == "window of 32"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[deviation]]\nrequirement = "REQ-XX-001"\nreason = "r"\n', "not a requirement ID"),
        ('[[deviation]]\nrequirement = "REQ-HS-004"\nreason = " "\n', "non-empty reason"),
        (
            '[[deviation]]\nrequirement = "REQ-HS-004"\nreason = "a"\n'
            '[[deviation]]\nrequirement = "REQ-HS-004"\nreason = "b"\n',
            "listed twice",
        ),
        ("deviation = 3\n", "expected a list"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DeviationError, match=message):
        load_deviations(write(tmp_path, text), KNOWN)
