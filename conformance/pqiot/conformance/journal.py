"""The run journal: one JSON line per test event, flushed and fsync'ed as it happens.

Why a journal: a crashed device, a killed run or Ctrl-C must lose nothing. Each
test writes a ``start`` line before it runs and a ``result`` line after; a
``start`` without a ``result`` is a test that was interrupted, which
``--resume`` runs again. Results already on disk are never rewritten.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

__all__ = ["JOURNAL_NAME", "Journal", "JournalState", "read_journal"]

JOURNAL_NAME = "results.jsonl"


@dataclass
class JournalState:
    """What a journal on disk says: the runs, the final results, the interrupted tests."""

    runs: list[dict[str, Any]]
    results: dict[str, dict[str, Any]]
    interrupted: list[str]


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                # A line cut by a kill is the only way to get here; its test reruns.
                continue
            if isinstance(entry, dict):
                yield entry


def read_journal(path: Path) -> JournalState:
    runs: list[dict[str, Any]] = []
    results: dict[str, dict[str, Any]] = {}
    started: dict[str, None] = {}
    if path.exists():
        for entry in _lines(path):
            kind = entry.get("event")
            if kind == "run":
                runs.append(entry)
            elif kind == "start":
                started[str(entry["nodeid"])] = None
            elif kind == "result":
                results[str(entry["nodeid"])] = entry
    interrupted = [nodeid for nodeid in started if nodeid not in results]
    return JournalState(runs, results, interrupted)


class Journal:
    """Append-only writer; each :meth:`write` is durable when it returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._stream: TextIO = path.open("a", encoding="utf-8")

    def write(self, entry: dict[str, Any]) -> None:
        self._stream.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        self._stream.close()
