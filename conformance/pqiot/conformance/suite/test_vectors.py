"""Primitive known-answer tests and accumulated vectors through TAP (``pqiot.vectors``).

The vector sets are the ones ``pqiot vectors verify --target`` runs; here they
run inside the certification so their verdicts land in the same report.
"""

from __future__ import annotations

from typing import Any

import pytest

from pqiot.conformance.device import Device
from pqiot.hil.primitive_adapter import TapPrimitiveAgent
from pqiot.vectors.catalog import find_set

#: set name -> primitives of which the device must declare one for the set to apply
VECTOR_SETS: dict[str, tuple[str, ...]] = {
    "mlkem-kat": ("ml-kem-512", "ml-kem-768", "ml-kem-1024"),
    "mldsa-kat": ("ml-dsa-44", "ml-dsa-65", "ml-dsa-87"),
    "aes256gcm-cavp": ("a256gcm",),
    "chacha20poly1305": ("chacha20-poly1305",),
    "hkdf-sha256": ("hkdf-sha256",),
    "negative-primitives": ("ml-kem-768",),
}


def _run(device: Device, name: str, evidence: dict[str, Any]) -> None:
    needs = VECTOR_SETS[name]
    declared = device.identity.get("primitives")
    if not isinstance(declared, list) or not any(p in declared for p in needs):
        pytest.skip(f"not applicable: none of {needs} declared")
    agent = TapPrimitiveAgent(device.client, device.name)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failures: list[str] = []
    for case in find_set(name).check(agent):
        counts[case.status] += 1
        if case.status == "failed" and len(failures) < 10:
            failures.append(f"{case.case}: {case.detail}")
    evidence.update(set=name, **counts, failures=failures)
    assert counts["failed"] == 0, f"{counts['failed']} vector(s) of {name} failed: {failures}"
    assert counts["passed"] > 0, f"no vector of {name} applied to this device ({counts})"


@pytest.mark.requirement("REQ-TAP-009")
def test_mlkem_kat(device: Device, evidence: dict[str, Any]) -> None:
    _run(device, "mlkem-kat", evidence)


@pytest.mark.requirement("REQ-TAP-009", "REQ-SUITE-009")
def test_mldsa_kat(device: Device, evidence: dict[str, Any]) -> None:
    _run(device, "mldsa-kat", evidence)


@pytest.mark.requirement("REQ-TAP-009")
def test_aes256gcm_cavp(device: Device, evidence: dict[str, Any]) -> None:
    _run(device, "aes256gcm-cavp", evidence)


@pytest.mark.requirement("REQ-TAP-009")
def test_chacha20poly1305(device: Device, evidence: dict[str, Any]) -> None:
    _run(device, "chacha20poly1305", evidence)


@pytest.mark.requirement("REQ-TAP-009")
def test_hkdf_sha256(device: Device, evidence: dict[str, Any]) -> None:
    _run(device, "hkdf-sha256", evidence)


@pytest.mark.requirement("REQ-TAP-010", "REQ-TAP-011")
def test_negative_primitives(device: Device, evidence: dict[str, Any]) -> None:
    _run(device, "negative-primitives", evidence)


#: Spec §13.7 / REQ-TAP-012: the published ML-KEM-768 digest for n = 100 (Go's TestAccumulated).
MLKEM768_ACCUMULATED_100 = "1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415"


@pytest.mark.requirement("REQ-TAP-012")
def test_accumulated_mlkem768_100(device: Device, evidence: dict[str, Any]) -> None:
    """ACCUMULATED ml-kem-768, n = 100, must return the digest the spec publishes."""
    declared = device.identity.get("primitives")
    if not isinstance(declared, list) or "ml-kem-768" not in declared:
        pytest.skip("not applicable: ml-kem-768 not declared")
    digest = device.client.accumulated("ml-kem-768", 100)
    evidence.update(prim="ml-kem-768", n=100, digest=digest.hex())
    assert digest.hex() == MLKEM768_ACCUMULATED_100, f"digest {digest.hex()}"
