"""Vendor-declared deviations: requirements the vendor expects the device to fail.

A deviation is a statement, not an excuse: it never turns a failure into a
pass. The report lists deviations apart from the verdicts, and a deviation
whose requirement passes is flagged (the file is stale or the vendor was wrong).

File format (TOML; YAML with the same shape if PyYAML is installed)::

    [[deviation]]
    requirement = "REQ-REPLAY-003"
    reason = "window of 32 on this MCU; tracked as FW-1234"
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Deviation", "DeviationError", "load_deviations"]


class DeviationError(ValueError):
    """The deviations file is unreadable or names unknown requirements."""


@dataclass(frozen=True)
class Deviation:
    requirement: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"requirement": self.requirement, "reason": self.reason}


def _parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ModuleNotFoundError:
            raise DeviationError(
                f"{path}: YAML needs PyYAML (pip install pyyaml); or write the file as TOML"
            ) from None
        return yaml.safe_load(text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeviationError(f"{path}: not valid TOML: {exc}") from None


def load_deviations(path: Path, known_ids: Collection[str]) -> dict[str, Deviation]:
    """Deviations by requirement ID; every problem of the file is reported at once."""
    data = _parse(path)
    entries = data.get("deviation") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DeviationError(
            f"{path}: expected a list 'deviation' of {{requirement, reason}} entries"
        )
    found: dict[str, Deviation] = {}
    problems: list[str] = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            problems.append(f"entry {index}: not a table")
            continue
        req_id, reason = entry.get("requirement"), entry.get("reason")
        if not isinstance(req_id, str) or req_id not in known_ids:
            problems.append(f"entry {index}: {req_id!r} is not a requirement ID of the spec")
        elif not isinstance(reason, str) or not reason.strip():
            problems.append(f"entry {index} ({req_id}): give a non-empty reason")
        elif req_id in found:
            problems.append(f"entry {index}: {req_id} is listed twice")
        else:
            found[req_id] = Deviation(req_id, reason.strip())
    if problems:
        raise DeviationError(f"{path}: " + "; ".join(problems))
    return found
