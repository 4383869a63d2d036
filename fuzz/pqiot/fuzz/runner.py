"""Run a harness under Atheris in a subprocess and report what libFuzzer found.

The fuzzer runs in its own process so that a crash (or an out-of-memory
kill) of the target never takes the caller down. Output goes to
``reports/fuzz/<name>/``: the growing corpus, the log of the last run, and
libFuzzer's ``crash-*``/``timeout-*``/``oom-*`` artifacts, each with a
one-line command that reproduces it without Atheris.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from pqiot.fuzz.corpus import write_seeds
from pqiot.fuzz.dictionaries import render
from pqiot.fuzz.harnesses import get

__all__ = ["DEFAULT_REPORTS", "RunResult", "parse_stats", "reproduce", "run"]

DEFAULT_REPORTS = Path("reports") / "fuzz"
#: libFuzzer per-input limits: an input slower or hungrier than this is a finding.
TIMEOUT_S = 10
RSS_LIMIT_MB = 2048
_ARTIFACT_PREFIXES = ("crash-", "timeout-", "oom-", "leak-", "slow-unit-")


@dataclass
class RunResult:
    name: str
    returncode: int
    seconds: float
    runs: int | None
    execs_per_sec: int | None
    coverage: int | None
    features: int | None
    log: Path
    artifacts: list[Path] = field(default_factory=list)

    @property
    def found_crash(self) -> bool:
        return bool(self.artifacts)


def parse_stats(log: str) -> dict[str, int]:
    """``runs``, ``execs_per_sec``, ``coverage``, ``features`` from libFuzzer's output."""
    stats: dict[str, int] = {}
    for key, pattern in (
        ("runs", r"stat::number_of_executed_units:\s*(\d+)"),
        ("execs_per_sec", r"stat::average_exec_per_sec:\s*(\d+)"),
    ):
        match = re.search(pattern, log)
        if match:
            stats[key] = int(match.group(1))
    coverage = re.findall(r"\bcov: (\d+)", log)
    features = re.findall(r"\bft: (\d+)", log)
    if coverage:
        stats["coverage"] = int(coverage[-1])
    if features:
        stats["features"] = int(features[-1])
    return stats


def reproduce_command(name: str, artifact: Path) -> str:
    return f"pqiot fuzz reproduce {name} {artifact}"


def run(
    name: str,
    *,
    seconds: float | None = None,
    runs: int | None = None,
    corpus: Path | None = None,
    reports: Path = DEFAULT_REPORTS,
    python: str = sys.executable,
    extra_args: tuple[str, ...] = (),
) -> RunResult:
    """Fuzz harness ``name`` for ``seconds`` or ``runs`` (default 60 s) and collect the results."""
    harness = get(name)
    out = reports / name
    out.mkdir(parents=True, exist_ok=True)
    corpus_dir = corpus if corpus is not None else out / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    dict_path = out / f"{name}.dict"
    dict_path.write_text(render(harness.dictionary))
    before = {p.name for p in out.iterdir()}
    limit = (
        [f"-runs={runs}"]
        if runs is not None
        else [f"-max_total_time={max(1, round(seconds if seconds is not None else 60))}"]
    )
    log_path = out / "last-run.log"
    with tempfile.TemporaryDirectory(prefix=f"pqiot-seeds-{name}-") as seeds:
        write_seeds(harness, Path(seeds))
        command = [
            python,
            "-m",
            "pqiot.fuzz.entry",
            name,
            str(corpus_dir),
            seeds,
            f"-dict={dict_path}",
            f"-artifact_prefix={out}/",
            f"-max_len={harness.max_len}",
            f"-timeout={TIMEOUT_S}",
            f"-rss_limit_mb={RSS_LIMIT_MB}",
            "-print_final_stats=1",
            *limit,
            *extra_args,
        ]
        started = time.monotonic()
        with log_path.open("w") as log:
            completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
        elapsed = time.monotonic() - started
    stats = parse_stats(log_path.read_text(errors="replace"))
    artifacts = sorted(
        p for p in out.iterdir() if p.name not in before and p.name.startswith(_ARTIFACT_PREFIXES)
    )
    return RunResult(
        name,
        completed.returncode,
        elapsed,
        stats.get("runs"),
        stats.get("execs_per_sec"),
        stats.get("coverage"),
        stats.get("features"),
        log_path,
        artifacts,
    )


def reproduce(name: str, data: bytes) -> str | None:
    """Run one input through the harness in-process; the traceback text, or None if it passes."""
    harness = get(name)
    try:
        harness.one_input(data)
    except Exception:
        return traceback.format_exc()
    return None
