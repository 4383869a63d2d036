"""Benchmark helpers: identities built once, and the handshake-overhead summary.

The issue's target (an ML-KEM-768 + ML-DSA-44 handshake costs at most 1.5x
the sum of its primitive operations, measured in the same run) is a
benchmark figure, so it is printed here from the timed medians rather than
asserted by a timed unit test.
"""

from __future__ import annotations

from typing import Any

import pytest

#: Primitive benchmarks whose sum is the cost floor of a method-0 handshake with
#: the default suite: initiator keygen/decaps/sign/verify, responder encaps/sign/verify.
DEFAULT_SUITE_PRIMITIVES = {
    "test_mlkem768_keygen": 1,
    "test_mlkem768_encaps": 1,
    "test_mlkem768_decaps": 1,
    "test_mldsa44_sign": 2,
    "test_mldsa44_verify": 2,
}
DEFAULT_SUITE_HANDSHAKE = "test_handshake[-102]"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    session = terminalreporter._session if hasattr(terminalreporter, "_session") else None
    bench_session = getattr(getattr(session, "config", None), "_benchmarksession", None)
    if bench_session is None or bench_session.disabled:
        return
    medians = {
        bench.name: bench.stats.median
        for bench in bench_session.benchmarks
        if getattr(bench, "stats", None) is not None
    }
    if DEFAULT_SUITE_HANDSHAKE not in medians or not all(
        n in medians for n in DEFAULT_SUITE_PRIMITIVES
    ):
        return
    floor = sum(medians[name] * count for name, count in DEFAULT_SUITE_PRIMITIVES.items())
    handshake = medians[DEFAULT_SUITE_HANDSHAKE]
    terminalreporter.write_sep("-", "handshake overhead (suite -102, medians)")
    terminalreporter.write_line(
        f"handshake {handshake * 1e3:.2f} ms, primitives {floor * 1e3:.2f} ms, "
        f"ratio {handshake / floor:.2f} (target <= 1.5)"
    )


@pytest.fixture(scope="session")
def identities() -> dict[int, Any]:
    """One deterministic identity per signature algorithm (Falcon-512 from test data)."""
    import shutil
    import tempfile
    from pathlib import Path

    from pqiot.reference.crypto.rng import ShakeRng
    from pqiot.reference.identity import generate_identity, load_identity

    result: dict[int, Any] = {}
    for alg in ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87", "Ed25519", "ES256"):
        identity = generate_identity(alg, subject=f"bench-{alg}", rng=ShakeRng(alg.encode()))
        result[identity.algorithm.cose_alg] = identity
    data = Path(__file__).parent.parent / "reference" / "data"
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".key", ".cred", ".json"):
            shutil.copy(data / f"falcon512-test{suffix}", Path(tmp) / f"falcon512-test{suffix}")
        (Path(tmp) / "falcon512-test.key").chmod(0o600)
        falcon = load_identity(tmp, "falcon512-test")
    result[falcon.algorithm.cose_alg] = falcon
    return result
