"""Accumulated-vector sets (spec §13.7): one 32-byte digest stands for N vectors.

Expected digests live in ``data/accumulated.json``. For ML-KEM-768 they are
the digests published with Go's ``crypto/mlkem`` ``TestAccumulated``, and the
generator refuses to write a file whose computed value differs; for the other
parameter sets (and the PQC-IIoT ML-DSA procedure) they are computed by the
reference, which the tests cross-check against the pure-Python backends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pqiot.vectors.accumulated import PUBLISHED_DIGESTS
from pqiot.vectors.agent import ACCUMULATED_PRIMITIVES, InputRejected, PrimitiveAgent, Unsupported
from pqiot.vectors.jsonfile import VectorFileError, load_vector_file, vector_document
from pqiot.vectors.model import CaseResult, VectorSet, fail, ok, skip

__all__ = ["ACCUMULATED_FILE", "accumulated_sets", "generate_accumulated"]

ACCUMULATED_FILE = "accumulated.json"
SET_NAME = "accumulated"
GO_SOURCE = "Go crypto/mlkem TestAccumulated (final FIPS 203)"

#: (set name, slow, [(prim, iterations)]) — what each runnable set checks.
_GROUPS: tuple[tuple[str, bool, tuple[tuple[str, int], ...]], ...] = (
    ("accumulated-100", False, (("ml-kem-512", 100), ("ml-kem-768", 100), ("ml-kem-1024", 100))),
    # Deterministic signing in PyCryptodome's C code: ~1 s for all three (dilithium-py: 14-48 s).
    ("accumulated-100-mldsa", False, (("ml-dsa-44", 100), ("ml-dsa-65", 100), ("ml-dsa-87", 100))),
    ("accumulated-10k", True, (("ml-kem-768", 10_000),)),
)

#: Runs whose digest the generator computes (other 10k runs would take hours in pure Python).
GENERATED_RUNS = tuple(run for _, _, runs in _GROUPS for run in runs if run[1] <= 100)

Progress = Callable[[int, int], None]


def _published(prim: str, n: int) -> str | None:
    return PUBLISHED_DIGESTS.get((ACCUMULATED_PRIMITIVES[prim], n))


def generate_accumulated(progress: Progress | None = None) -> dict[str, Any]:
    """Compute the expected digests with the reference; ML-KEM-768 must match Go's."""
    from pqiot.vectors.agent import ReferenceAgent

    agent = ReferenceAgent()
    records: list[dict[str, Any]] = []
    for prim, n in GENERATED_RUNS:
        digest = agent.accumulated(prim, n, progress).hex()
        published = _published(prim, n)
        if published is not None and published != digest:
            raise AssertionError(
                f"reference computes {digest} for {prim} x {n}, {GO_SOURCE} publishes {published}"
            )
        records.append(_record(prim, n, digest, published is not None))
    for (scheme, n), digest in sorted(PUBLISHED_DIGESTS.items()):
        prim = next(p for p, s in ACCUMULATED_PRIMITIVES.items() if s == scheme)
        if (prim, n) not in GENERATED_RUNS:
            records.append(_record(prim, n, digest, True))
    return vector_document(
        SET_NAME,
        "Expected digests of the §13.7 accumulated procedures (SHAKE128 input stream over "
        "the empty string, outputs absorbed into a second SHAKE128).",
        records,
    )


def _record(prim: str, n: int, digest: str, published: bool) -> dict[str, Any]:
    return {
        "id": f"{prim}/{n}",
        "req": ["REQ-TAP-012"],
        "inputs": {"prim": prim, "n": n},
        "expected": {"digest": digest},
        "origin": GO_SOURCE if published else "computed by the pqiot reference",
    }


def _expected(data_dir: Path) -> tuple[dict[tuple[str, int], bytes], list[str]]:
    """Digests by (prim, n) from the committed file, plus the problems found in it."""
    found: dict[tuple[str, int], bytes] = {}
    problems: list[str] = []
    vector_file = load_vector_file(data_dir / ACCUMULATED_FILE, SET_NAME)
    for view in vector_file.views():
        try:
            inputs = view.sub("inputs")
            key = (inputs.text("prim"), inputs.integer("n"))
            found[key] = view.sub("expected").hex("digest", 32)
        except VectorFileError as exc:
            problems.append(str(exc))
    return found, problems


def _checker(
    data_dir: Path,
    runs: tuple[tuple[str, int], ...],
    progress_factory: Callable[[str], Progress | None],
) -> Callable[[PrimitiveAgent], Iterator[CaseResult]]:
    def check(agent: PrimitiveAgent) -> Iterator[CaseResult]:
        try:
            expected, problems = _expected(data_dir)
        except VectorFileError as exc:
            for prim, n in runs:
                yield fail(f"{prim}/{n}", str(exc))
            return
        for problem in problems:
            yield fail("bad record", problem)
        for prim, n in runs:
            case = f"{prim}/{n}"
            published = _published(prim, n)
            want = expected.get((prim, n))
            if want is None:
                yield fail(case, f"{data_dir / ACCUMULATED_FILE} has no record for {case}")
                continue
            if published is not None and want.hex() != published:
                yield fail(case, f"file digest {want.hex()} differs from {GO_SOURCE} {published}")
                continue
            try:
                got = agent.accumulated(prim, n, progress_factory(case))
            except Unsupported as exc:
                yield skip(case, str(exc))
                continue
            except InputRejected as exc:
                yield fail(case, f"agent refused the run: {exc}")
                continue
            yield ok(case) if got == want else fail(case, f"digest {got.hex()} != {want.hex()}")

    return check


def accumulated_sets(
    data_dir: Path, progress_factory: Callable[[str], Progress | None] = lambda _: None
) -> list[VectorSet]:
    sets = []
    for name, slow, runs in _GROUPS:
        published = [f"{p} x {n}" for p, n in runs if _published(p, n)]
        source = f"data/{ACCUMULATED_FILE}: generated by the pqiot reference"
        if published:
            source += f"; {', '.join(published)} = {GO_SOURCE}"
        sets.append(
            VectorSet(
                name,
                source,
                "accumulated runs " + ", ".join(f"{p} x {n}" for p, n in runs),
                lambda runs=runs: len(runs),  # type: ignore[misc]
                _checker(data_dir, runs, progress_factory),
                slow=slow,
            )
        )
    return sets
