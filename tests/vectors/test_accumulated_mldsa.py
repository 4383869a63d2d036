"""ML-DSA accumulated runs (spec §13.7) are fast enough for CI and stay honest.

The fast path signs with PyCryptodome's C implementation; the committed digests
were computed with dilithium-py. Both must agree signature by signature, and
the digest must not depend on which one signs.
"""

from __future__ import annotations

import pytest

from pqiot.reference.crypto.mldsa import MLDSA44, MLDSA65, MLDSA87, MlDsa
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.vectors import accumulated
from pqiot.vectors.accumulated import accumulated_digest, fast_deterministic_signer


@pytest.mark.parametrize("scheme", [MLDSA44, MLDSA65, MLDSA87], ids=lambda s: s.name)
def test_fast_signer_equals_dilithium_py_deterministic_signing(scheme: MlDsa) -> None:
    """FIPS 204 deterministic Sign (rnd = 0^32, empty context) from two implementations."""
    signer = fast_deterministic_signer(scheme.name)
    if signer is None:
        pytest.skip("PyCryptodome >= 4.4 (Crypto.Signature.mldsa) is not installed")
    stream = ShakeRng(f"pqiot fast signer {scheme.name}".encode())
    xi, message = stream(32), stream(32)
    assert signer(xi, message) == scheme.sign(xi, message)


def test_digest_does_not_depend_on_the_signer(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = accumulated_digest("ML-DSA-44", 3)
    monkeypatch.setattr(accumulated, "fast_deterministic_signer", lambda _scheme: None)
    assert accumulated_digest("ML-DSA-44", 3) == fast
