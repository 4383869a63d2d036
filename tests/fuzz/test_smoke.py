"""CI smoke of the fuzzing front ends: every harness under Atheris for a second, and the CLI.

The Atheris runs share the machine's cores (one subprocess per harness, as
``pqiot fuzz run`` starts them); on 2 cores the whole module takes about a
minute and a half. Long campaigns are documented in fuzz/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pqiot.cli import fuzz_cmd
from pqiot.cli.errors import CliError
from pqiot.fuzz import runner
from pqiot.fuzz.harnesses import names

SMOKE_SECONDS = 1
REGRESSIONS = Path(__file__).parent / "regressions"


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, runner.RunResult]:
    pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")
    reports = tmp_path_factory.mktemp("fuzz-reports")
    workers = max(2, os.cpu_count() or 2)
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(
            lambda name: runner.run(name, seconds=SMOKE_SECONDS, reports=reports), names()
        )
        return {result.name: result for result in results}


#: Harnesses whose parser has a reported, not yet fixed defect that Atheris finds within
#: the smoke second. Strict: the test fails as soon as the fix lands, so the entry goes.
KNOWN_OPEN: dict[str, str] = {}


def _smoke_params() -> list[object]:
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_OPEN[n]))
        if n in KNOWN_OPEN
        else n
        for n in names()
    ]


@pytest.mark.parametrize("name", _smoke_params())
def test_harness_runs_under_atheris_without_findings(
    name: str, smoke_results: dict[str, runner.RunResult]
) -> None:
    result = smoke_results[name]
    log = result.log.read_text(errors="replace")
    assert result.artifacts == [], log[-3000:]
    assert result.returncode == 0, log[-3000:]
    assert result.runs and result.runs > 0
    assert result.execs_per_sec is not None
    assert result.coverage and result.coverage > 0, "no coverage: is the reference instrumented?"


# -- the CLI -------------------------------------------------------------------------------


def cli(argv: list[str]) -> int:
    """Dispatch exactly as ``pqiot.cli.main`` does, with only the fuzz command registered."""
    parser = argparse.ArgumentParser(prog="pqiot")
    fuzz_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except CliError as exc:
        print(f"pqiot: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return result


def test_fuzz_list_prints_one_harness_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["fuzz", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == names()


def test_fuzz_run_with_an_unknown_name_lists_the_valid_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(["fuzz", "run", "no_such_parser", "--seconds", "1"]) == 2
    error = capsys.readouterr().err
    assert "no fuzz harness named 'no_such_parser'" in error
    assert all(name in error for name in names())


def test_fuzz_run_prints_execs_per_second_and_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    code = cli(
        ["fuzz", "run", "oscore_option", "--runs", "2000", "--corpus", str(corpus),
         "--reports", str(tmp_path / "reports")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "execs/s" in out and "coverage" in out
    assert "oscore_option: 2000 runs" in out
    assert any(corpus.iterdir()), "the corpus directory grows with new inputs"


FAKE_FUZZER = """
import sys
prefix = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-artifact_prefix="))
open(prefix + "crash-0123abcd", "wb").write(b"\\xa1\\xf5\\x00")
print("#5 DONE cov: 12 ft: 30 corp: 1/1b exec/s: 0 rss: 40Mb")
print("stat::number_of_executed_units: 5")
print("stat::average_exec_per_sec: 250")
sys.exit(1)
"""


def test_a_crash_is_saved_with_a_reproduce_command(tmp_path: Path) -> None:
    """The runner collects libFuzzer's artifacts from reports/fuzz/NAME/ and its statistics."""
    fake = tmp_path / "fake_python.py"
    fake.write_text(FAKE_FUZZER)
    interpreter = tmp_path / "python"
    interpreter.write_text(f'#!/bin/sh\nexec {sys.executable} {fake} "$@"\n')
    interpreter.chmod(0o755)
    result = runner.run("cbor", runs=5, reports=tmp_path / "reports", python=str(interpreter))
    assert [a.name for a in result.artifacts] == ["crash-0123abcd"]
    assert result.artifacts[0].parent == tmp_path / "reports" / "cbor"
    assert (result.runs, result.execs_per_sec, result.coverage) == (5, 250, 12)
    assert runner.reproduce_command("cbor", result.artifacts[0]) == (
        f"pqiot fuzz reproduce cbor {result.artifacts[0]}"
    )


def test_fuzz_reproduce_passes_a_fixed_regression(capsys: pytest.CaptureFixture[str]) -> None:
    path = REGRESSIONS / "cbor" / "map-with-true-key.bin"
    assert cli(["fuzz", "reproduce", "cbor", str(path)]) == 0
    assert "passes the harness contract" in capsys.readouterr().out


def test_fuzz_reproduce_shows_the_traceback_of_a_contract_break(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parser that raises anything but its typed error is reported with its traceback."""
    from pqiot.reference import cbor

    def broken_decode(data: bytes) -> object:
        raise KeyError(data)  # a parser bug: not a DecodeError

    monkeypatch.setattr(cbor, "decode", broken_decode)
    path = tmp_path / "input"
    path.write_bytes(b"\x00")
    assert cli(["fuzz", "reproduce", "cbor", str(path)]) == 1
    out = capsys.readouterr().out
    assert "KeyError" in out and "breaks the harness contract" in out
