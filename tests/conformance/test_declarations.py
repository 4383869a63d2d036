"""Vendor declarations files (spec §14.5.1, REQ-CONF-008) and the spec's verification methods."""

from __future__ import annotations

from pathlib import Path

import pytest

from pqiot.conformance.declarations import DeclarationError, load_declarations
from pqiot.conformance.requirements import RequirementCatalogue, load_catalogue

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def catalogue() -> RequirementCatalogue:
    return load_catalogue()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "declarations.toml"
    path.write_text(text, encoding="utf-8")
    return path


def entry(req: str, statement: str = "zeroised in finish()", evidence: str = "edhoc.c") -> str:
    return (
        f'[[declaration]]\nrequirement = "{req}"\n'
        f'statement = "{statement}"\nevidence = "{evidence}"\n'
    )


def test_the_spec_marks_unobservable_requirements_as_declaration(
    catalogue: RequirementCatalogue,
) -> None:
    """§14.5: key erasure and production-build content are declared, wire behaviour is tested."""
    assert catalogue.get("REQ-HS-035").verification == "declaration"
    assert catalogue.get("REQ-TAP-002").verification == "declaration"
    assert "erasing" in catalogue.get("REQ-HS-035").verification_reason
    assert catalogue.get("REQ-HS-004").verification == "test"
    assert catalogue.get("REQ-SP-003").verification == "test", "TAP can cause the mismatch"
    assert catalogue.get("REQ-GEN-001").verification == "claim"


def test_a_valid_file_is_loaded(tmp_path: Path, catalogue: RequirementCatalogue) -> None:
    path = write(tmp_path, entry("REQ-HS-035", "  wiped in finish()  ") + entry("REQ-SP-001"))
    loaded = load_declarations(path, catalogue)
    assert sorted(loaded) == ["REQ-HS-035", "REQ-SP-001"]
    assert loaded["REQ-HS-035"].statement == "wiped in finish()"
    assert loaded["REQ-HS-035"].to_json()["evidence"] == "edhoc.c"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (entry("REQ-XX-001"), "'REQ-XX-001' is not a requirement ID"),
        (entry("REQ-HS-035") + entry("REQ-HS-035"), "REQ-HS-035 is declared twice"),
        (entry("REQ-HS-035", statement=" "), "give a non-empty statement"),
        (entry("REQ-HS-035", evidence=""), "give a non-empty evidence"),
        (
            '[[declaration]]\nrequirement = "REQ-HS-035"\nevidence = "e"\n',
            "give a non-empty statement",
        ),
        (entry("REQ-HS-035") + 'reviewer = "me"\n', "unknown key 'reviewer'"),
        ("declaration = 3\n", "expected a list 'declaration'"),
        ('[[declarations]]\nrequirement = "REQ-HS-035"\n', "expected a list 'declaration'"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_files_are_refused_with_a_clear_error(
    tmp_path: Path, catalogue: RequirementCatalogue, text: str, message: str
) -> None:
    """REQ-CONF-008: unknown ID, duplicate, missing statement or evidence are refused."""
    with pytest.raises(DeclarationError, match=message):
        load_declarations(write(tmp_path, text), catalogue)


def test_a_declaration_never_replaces_a_test(
    tmp_path: Path, catalogue: RequirementCatalogue
) -> None:
    """REQ-CONF-008: declaring a test-verified (or claim-verified) requirement is an error."""
    path = write(tmp_path, entry("REQ-HS-004") + entry("REQ-GEN-001") + entry("REQ-HS-035"))
    with pytest.raises(DeclarationError) as caught:
        load_declarations(path, catalogue)
    message = str(caught.value)
    assert "REQ-HS-004 is verified by test, not by declaration" in message
    assert "REQ-GEN-001 is verified by claim, not by declaration" in message
    assert "REQ-HS-035" not in message, "a valid entry is not reported"


def test_every_problem_is_reported_at_once(tmp_path: Path, catalogue: RequirementCatalogue) -> None:
    path = write(tmp_path, entry("REQ-XX-001") + entry("REQ-HS-004"))
    with pytest.raises(DeclarationError) as caught:
        load_declarations(path, catalogue)
    assert "REQ-XX-001" in str(caught.value) and "REQ-HS-004" in str(caught.value)


def test_a_missing_file_says_which(tmp_path: Path, catalogue: RequirementCatalogue) -> None:
    with pytest.raises(DeclarationError, match="cannot read the declarations file"):
        load_declarations(tmp_path / "absent.toml", catalogue)


@pytest.mark.parametrize("name", ["reference", "firmware"])
def test_our_own_declaration_files_load(name: str, catalogue: RequirementCatalogue) -> None:
    """targets/declarations/*.toml only declare declaration-verified requirements."""
    loaded = load_declarations(REPO / "targets" / "declarations" / f"{name}.toml", catalogue)
    assert loaded
    assert all(catalogue.get(req).verification == "declaration" for req in loaded)
