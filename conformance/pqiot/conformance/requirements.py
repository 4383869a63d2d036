"""The requirement catalogue: every REQ ID of the spec, read by the spec's own extractor.

Why reuse ``spec/tools/extract_requirements.py``: it is the single parser the
spec's CI trusts (unique, well-formed IDs), so the report can never list a
different set of requirements than the spec defines.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

__all__ = [
    "MANDATORY_LEVELS",
    "VERIFICATION_METHODS",
    "Requirement",
    "RequirementCatalogue",
    "SpecNotFound",
    "load_catalogue",
    "spec_dir",
]

#: Levels whose failure denies a conformance claim (REQ-CONF-004).
MANDATORY_LEVELS = frozenset({"MUST", "MUST NOT"})
#: Spec §14.5: observed by a conformance test, covered by a vendor declaration, or a rule
#: about the claim and report themselves.
VERIFICATION_METHODS = ("test", "declaration", "claim")
_SPEC_VERSION = re.compile(r"Spec version: \*\*([^*]+)\*\*")
_PROTOCOL_VERSION = re.compile(r"Protocol version: \*\*([^*]+)\*\*")


class SpecNotFound(RuntimeError):
    """The spec directory or its extractor is missing."""


@dataclass(frozen=True)
class Requirement:
    """One normative statement (the extractor's fields)."""

    id: str
    level: str
    area: str
    file: str
    line: int
    text: str
    #: How the spec says it is verified (§14.5) and, unless by test, why.
    verification: str = "test"
    verification_reason: str = ""

    @property
    def mandatory(self) -> bool:
        return self.level in MANDATORY_LEVELS

    @property
    def by_declaration(self) -> bool:
        return self.verification == "declaration"

    @property
    def number(self) -> int:
        return int(self.id.rsplit("-", 1)[1])


@dataclass(frozen=True)
class RequirementCatalogue:
    """All requirements of one spec version, in document order."""

    spec_version: str
    protocol_version: str
    requirements: tuple[Requirement, ...]

    def ids(self) -> list[str]:
        return [r.id for r in self.requirements]

    def get(self, req_id: str) -> Requirement:
        for requirement in self.requirements:
            if requirement.id == req_id:
                return requirement
        raise KeyError(f"{req_id} is not a requirement of spec {self.spec_version}")

    def __contains__(self, req_id: object) -> bool:
        return any(r.id == req_id for r in self.requirements)


def spec_dir() -> Path:
    """``spec/`` of the checkout this portion is installed from; PQIOT_SPEC overrides it."""
    override = os.environ.get("PQIOT_SPEC")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "spec"


def _extractor(directory: Path) -> ModuleType:
    path = directory / "tools" / "extract_requirements.py"
    if not path.is_file():
        raise SpecNotFound(
            f"{path} not found: run from a pqiot checkout or set PQIOT_SPEC to its spec/ folder"
        )
    name = "pqiot_spec_extract_requirements"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the file executes.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@cache
def load_catalogue(directory: Path | None = None) -> RequirementCatalogue:
    """Run the extractor on ``directory`` (default :func:`spec_dir`); it raises on a broken spec."""
    folder = directory or spec_dir()
    extractor = _extractor(folder)
    requirements = tuple(
        Requirement(
            r.id,
            r.level,
            r.area,
            r.file,
            r.line,
            r.text,
            getattr(r, "verification", "test"),
            getattr(r, "verification_reason", ""),
        )
        for r in extractor.extract(folder)
    )
    readme = (folder / "README.md").read_text(encoding="utf-8")
    spec_match, protocol_match = _SPEC_VERSION.search(readme), _PROTOCOL_VERSION.search(readme)
    return RequirementCatalogue(
        spec_version=spec_match.group(1) if spec_match else "unknown",
        protocol_version=protocol_match.group(1) if protocol_match else "unknown",
        requirements=requirements,
    )
