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
        # a benchmark whose test failed before timing has stats without data
        if getattr(bench, "stats", None) is not None and bench.stats.data
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
def identities() -> dict[int, tuple[Any, Any]]:
    """(initiator, responder) identities per signature algorithm, deterministic.

    The two roles never share an identity: peers with one ``sub`` abort
    (REQ-CRED-007). Falcon-512 comes from the two stored test identities
    because pure-Python Falcon key generation takes seconds.
    """
    import shutil
    import tempfile
    from pathlib import Path

    from pqiot.reference.crypto.rng import ShakeRng
    from pqiot.reference.identity import generate_identity, load_identity

    result: dict[int, tuple[Any, Any]] = {}
    for alg in ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87", "Ed25519", "ES256"):
        pair = tuple(
            generate_identity(
                alg, subject=f"bench-{role}-{alg}", rng=ShakeRng(f"{role}{alg}".encode())
            )
            for role in ("initiator", "responder")
        )
        result[pair[0].algorithm.cose_alg] = (pair[0], pair[1])
    data = Path(__file__).parent.parent / "reference" / "data"
    falcon = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("falcon512-test", "falcon512-test-b"):
            for suffix in (".key", ".cred", ".json"):
                shutil.copy(data / f"{name}{suffix}", Path(tmp) / f"{name}{suffix}")
            (Path(tmp) / f"{name}.key").chmod(0o600)
            falcon.append(load_identity(tmp, name))
    result[falcon[0].algorithm.cose_alg] = (falcon[0], falcon[1])
    return result
