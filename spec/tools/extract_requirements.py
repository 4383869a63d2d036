#!/usr/bin/env python3
"""Extract the requirement IDs of the PQC-IIoT spec as JSON.

Why: tests, the conformance suite and reports refer to requirements by ID, so
the IDs must be unique, well-formed and machine-readable. This script is the
single parser for them. It prints a JSON array of
``{"id", "level", "area", "file", "line", "text", "verification",
"verification_reason"}`` objects to stdout and exits with status 1 (problems
listed on stderr) when an ID is malformed, duplicated, spread over two
chapters, or referenced without being defined, or when the verification-method
table (chapter 14 §14.5) is malformed. ``verification`` is ``"test"`` unless
that table says ``"declaration"`` or ``"claim"``; the conformance report and
claim depend on it.

Usage: ``python spec/tools/extract_requirements.py [SPEC_DIR]``
(SPEC_DIR defaults to the directory above this script).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
#: How a requirement is verified (chapter 14 §14.5); "test" unless the table says otherwise.
VERIFICATION_METHODS = ("test", "declaration", "claim")

# The contract of spec/README.md: a tool may rely on exactly this pattern.
REQUIREMENT_PATTERN = re.compile(
    r"\*\*(REQ-[A-Z]+-\d{3})\*\* \((MUST|SHOULD|MAY|MUST NOT|SHOULD NOT)\)"
)
# A definition: at the start of a list item or paragraph, followed by ": text".
_DEFINITION = re.compile(
    r"^(?:[-*+]\s+|\d+\.\s+)?\*\*(REQ-[A-Z]+-\d{3})\*\* "
    r"\((MUST NOT|SHOULD NOT|MUST|SHOULD|MAY)\): (\S.*)$"
)
# Anything bold that starts like a requirement ID, well-formed or not.
_BOLD_CANDIDATE = re.compile(r"\*\*\s*REQ[-_ ][^*]*\*\*", re.IGNORECASE)
# Plain references in running text (used to find dangling references).
_REFERENCE = re.compile(r"\bREQ-[A-Z]+-\d{3}\b")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
# A row of the §14.5 table: | REQ-ID | method | reason |
_VERIFICATION_ROW = re.compile(r"^\|\s*(REQ-[A-Z]+-\d{3})\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*$")
_VERIFICATION_SECTION = "verification method"


@dataclass(frozen=True)
class Requirement:
    """One normative statement of the spec."""

    id: str
    level: str
    area: str
    file: str
    line: int
    text: str
    verification: str = "test"
    verification_reason: str = ""


class RequirementError(Exception):
    """The spec's requirement IDs break the rules of spec/README.md."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _markdown_lines(path: Path) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, numbered from 1 (examples in code are not requirements)."""
    result: list[tuple[int, str]] = []
    in_fence = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            result.append((number, line))
    return result


def extract(spec_dir: Path) -> list[Requirement]:
    """Return every requirement of the Markdown files in ``spec_dir``, in document order.

    Raises :class:`RequirementError` listing every problem found, so that one
    run shows all of them rather than the first.
    """
    files = sorted(spec_dir.glob("*.md"))
    if not files:
        raise RequirementError([f"no Markdown files in {spec_dir}: pass the spec directory"])
    requirements: list[Requirement] = []
    references: list[tuple[str, str, int]] = []
    problems: list[str] = []
    methods: dict[str, tuple[str, str, str]] = {}
    for path in files:
        section = ""
        for number, line in _markdown_lines(path):
            where = f"{path.name}:{number}"
            heading = _HEADING.match(line)
            if heading:
                section = heading.group(1).lower()
            elif _VERIFICATION_SECTION in section:
                problems.extend(_verification_row(line, where, methods))
            definition = _DEFINITION.match(line.strip())
            if definition:
                req_id, level, text = definition.groups()
                area = req_id.split("-")[1]
                requirements.append(
                    Requirement(req_id, level, area, path.name, number, text.strip())
                )
            for candidate in _BOLD_CANDIDATE.finditer(line):
                if definition and candidate.start() == line.find("**"):
                    continue
                problems.append(
                    f"{where}: malformed or misplaced requirement marker {candidate.group(0)!r}; "
                    "write '**REQ-<AREA>-<NNN>** (<LEVEL>): text' "
                    "at the start of a list item or paragraph"
                )
            for reference in _REFERENCE.finditer(line):
                references.append((reference.group(0), path.name, number))
    problems.extend(_check_unique(requirements))
    problems.extend(_check_areas(requirements))
    problems.extend(_check_references(requirements, references))
    if problems:
        raise RequirementError(problems)
    return [
        replace(req, verification=methods[req.id][0], verification_reason=methods[req.id][1])
        if req.id in methods
        else req
        for req in requirements
    ]


def _verification_row(line: str, where: str, methods: dict[str, tuple[str, str, str]]) -> list[str]:
    """Record one row of the §14.5 table; other lines of that section are prose."""
    row = _VERIFICATION_ROW.match(line.strip())
    if row is None:
        return []
    req_id, method, reason = row.groups()
    if method not in VERIFICATION_METHODS[1:]:
        return [
            f"{where}: {req_id}: verification method {method!r} must be "
            "'declaration' or 'claim' (every requirement not listed is verified by test)"
        ]
    if not reason:
        return [f"{where}: {req_id}: say in one line why no black-box test can establish it"]
    if req_id in methods:
        return [f"{where}: {req_id} is listed twice (first at {methods[req_id][2]})"]
    methods[req_id] = (method, reason, where)
    return []


def _check_unique(requirements: list[Requirement]) -> list[str]:
    seen: dict[str, Requirement] = {}
    problems = []
    for req in requirements:
        first = seen.setdefault(req.id, req)
        if first is not req:
            problems.append(
                f"{req.file}:{req.line}: duplicate {req.id} "
                f"(first defined at {first.file}:{first.line}); "
                "IDs are never reused: take the next free number of the area"
            )
    return problems


def _check_areas(requirements: list[Requirement]) -> list[str]:
    homes: dict[str, str] = {}
    problems = []
    for req in requirements:
        home = homes.setdefault(req.area, req.file)
        if home != req.file:
            problems.append(
                f"{req.file}:{req.line}: {req.id} belongs to area {req.area}, "
                f"which lives in {home}; "
                "an area lives in exactly one chapter"
            )
    return problems


def _check_references(
    requirements: list[Requirement], references: list[tuple[str, str, int]]
) -> list[str]:
    defined = {req.id for req in requirements}
    return [
        f"{file}:{line}: reference to undefined requirement {ref_id}"
        for ref_id, file, line in references
        if ref_id not in defined
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the requirements as JSON; on rule violations list them on stderr and return 1."""
    args = sys.argv[1:] if argv is None else argv
    spec_dir = Path(args[0]) if args else Path(__file__).resolve().parent.parent
    try:
        requirements = extract(spec_dir)
    except RequirementError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {spec_dir}", file=sys.stderr)
        return 1
    json.dump([asdict(req) for req in requirements], sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
