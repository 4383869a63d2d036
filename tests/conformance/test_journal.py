"""The run journal survives interruption: finished results stay, cut lines are ignored."""

from __future__ import annotations

from pathlib import Path

from pqiot.conformance.journal import Journal, read_journal


def test_results_interrupted_tests_and_a_cut_last_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    journal = Journal(path)
    journal.write({"event": "run", "time": 1})
    journal.write({"event": "start", "nodeid": "a"})
    journal.write({"event": "result", "nodeid": "a", "outcome": "passed"})
    journal.write({"event": "start", "nodeid": "b"})
    journal.close()
    with path.open("a") as stream:
        stream.write('{"event": "result", "nodeid": "b", "outc')  # killed mid-write
    state = read_journal(path)
    assert list(state.results) == ["a"]
    assert state.interrupted == ["b"]
    assert len(state.runs) == 1


def test_missing_journal_is_empty(tmp_path: Path) -> None:
    state = read_journal(tmp_path / "none.jsonl")
    assert (state.runs, state.results, state.interrupted) == ([], {}, [])
