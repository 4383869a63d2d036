"""Vendor declarations: how an implementation meets what no black-box test can observe.

Spec §14.5 lists the requirements verified by ``declaration`` (key erasure,
constant time, production-build content, storage at rest, internal provider
contracts). Like a Matter declaration of conformity or Common Criteria vendor
evidence, a declaration is a statement a certifier reviews: it never makes a
requirement ``pass``, it only lets the claim count the requirement as covered
(REQ-CONF-007). A declaration for a test-verified requirement is refused, so a
declarations file can never stand in for a test (REQ-CONF-008).

File format (TOML)::

    [[declaration]]
    requirement = "REQ-HS-035"
    statement = "how the implementation meets it"
    evidence = "document or code reference a certifier can check"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pqiot.conformance.requirements import RequirementCatalogue

__all__ = ["Declaration", "DeclarationError", "load_declarations", "parse_declarations"]

_KEYS = ("requirement", "statement", "evidence")


class DeclarationError(ValueError):
    """The declarations file is unreadable or breaks the rules of spec §14.5.1."""


@dataclass(frozen=True)
class Declaration:
    requirement: str
    statement: str
    evidence: str

    def to_json(self) -> dict[str, str]:
        return {
            "requirement": self.requirement,
            "statement": self.statement,
            "evidence": self.evidence,
        }


def _entry_problems(
    index: int, entry: Any, catalogue: RequirementCatalogue, found: dict[str, Declaration]
) -> list[str]:
    if not isinstance(entry, dict):
        return [f"entry {index}: not a table; write [[declaration]] with {', '.join(_KEYS)}"]
    req_id = entry.get("requirement")
    where = f"entry {index} ({req_id})" if isinstance(req_id, str) else f"entry {index}"
    problems = [f"{where}: unknown key {key!r}" for key in sorted(entry) if key not in _KEYS]
    if not isinstance(req_id, str) or req_id not in catalogue:
        return [
            *problems,
            f"{where}: {req_id!r} is not a requirement ID of spec {catalogue.spec_version}",
        ]
    method = catalogue.get(req_id).verification
    if method != "declaration":
        problems.append(
            f"{where}: {req_id} is verified by {method}, not by declaration (spec §14.5); "
            "a declaration cannot replace a test: remove the entry (or, if the device "
            "fails it, list it as a deviation)"
        )
    for key in ("statement", "evidence"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: give a non-empty {key}")
    if req_id in found:
        problems.append(f"{where}: {req_id} is declared twice")
    return problems


def parse_declarations(
    data: Any, catalogue: RequirementCatalogue, source: str = "<memory>"
) -> dict[str, Declaration]:
    """Declarations by requirement ID; every problem of the document is reported at once."""
    entries = data.get("declaration") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DeclarationError(
            f"{source}: expected a list 'declaration' of {{{', '.join(_KEYS)}}} tables "
            "([[declaration]] in TOML)"
        )
    found: dict[str, Declaration] = {}
    problems: list[str] = []
    if isinstance(data, dict):
        problems += [
            f"unknown top-level key {key!r}" for key in sorted(data) if key != "declaration"
        ]
    for index, entry in enumerate(entries, start=1):
        entry_problems = _entry_problems(index, entry, catalogue, found)
        if entry_problems:
            problems += entry_problems
            continue
        req_id = entry["requirement"]
        found[req_id] = Declaration(req_id, entry["statement"].strip(), entry["evidence"].strip())
    if problems:
        raise DeclarationError(f"{source}:\n  " + "\n  ".join(problems))
    return found


def load_declarations(path: Path, catalogue: RequirementCatalogue) -> dict[str, Declaration]:
    """Read and check a TOML declarations file (spec §14.5.1)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeclarationError(
            f"{path}: cannot read the declarations file: {exc.strerror}"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeclarationError(f"{path}: not valid TOML: {exc}") from None
    return parse_declarations(data, catalogue, str(path))
