"""The TAP code tables equal spec chapter 13 (§13.2.1 statuses, §13.3 commands)."""

from __future__ import annotations

import re
from pathlib import Path

from pqiot.reference.tap.codes import Command, Status

SPEC = Path(__file__).resolve().parents[3] / "spec" / "13-test-agent.md"


def _table_rows(heading: str) -> list[list[str]]:
    text = SPEC.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if re.fullmatch(r"\d+", cells[0]):
            rows.append(cells)
    return rows


def test_status_codes_match_the_spec_table() -> None:
    """§13.2.1: every status code and name, no more, no fewer."""
    rows = _table_rows("### 13.2.1 Status codes")
    assert {int(r[0]): r[1] for r in rows} == {int(s): s.name.lower() for s in Status}


def test_command_codes_match_the_spec_table() -> None:
    """§13.3: every command code and name, no more, no fewer."""
    rows = _table_rows("## 13.3 Commands")
    assert {int(r[0]): r[1] for r in rows} == {int(c): c.name for c in Command}
