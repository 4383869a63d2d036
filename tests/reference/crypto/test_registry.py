"""Algorithm lookup by the identifiers of design decision D2."""

from __future__ import annotations

import pytest

from pqiot.reference.crypto import registry
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.errors import UnsupportedAlgorithm


@pytest.mark.parametrize(
    ("identifier", "name"),
    [
        (-65701, "ML-KEM-512"),
        (-65702, "ML-KEM-768"),
        (-65703, "ML-KEM-1024"),
        (-65704, "X25519+ML-KEM-768"),
        (1, "P-256"),
        (4, "X25519"),
    ],
)
def test_kem_lookup(identifier: int, name: str) -> None:
    kem = registry.kem(identifier)
    assert (kem.name, kem.identifier) == (name, identifier)
    ek, dk = kem.generate(ShakeRng(b"registry"))
    encapsulation = kem.encapsulate(ek, ShakeRng(b"e"))
    assert kem.decapsulate(dk, encapsulation.ciphertext) == encapsulation.shared_secret


@pytest.mark.parametrize(
    ("cose_alg", "name"),
    [
        (-7, "ES256"),
        (-8, "EdDSA"),
        (-48, "ML-DSA-44"),
        (-49, "ML-DSA-65"),
        (-50, "ML-DSA-87"),
        (-65601, "Falcon-512"),
        (-65602, "Falcon-1024"),
    ],
)
def test_signature_lookup(cose_alg: int, name: str) -> None:
    scheme = registry.signature(cose_alg)
    assert (scheme.name, scheme.cose_alg) == (name, cose_alg)


@pytest.mark.parametrize("cose_alg", [1, 3, 10, 24, 30])
def test_aead_lookup(cose_alg: int) -> None:
    assert registry.aead(cose_alg).cose_alg == cose_alg


@pytest.mark.parametrize(("cose_alg", "size"), [(-16, 32), (-43, 48), (-45, 64)])
def test_hash_lookup(cose_alg: int, size: int) -> None:
    algorithm = registry.hash_algorithm(cose_alg)
    assert (algorithm.cose_alg, algorithm.digest_size) == (cose_alg, size)


@pytest.mark.parametrize(("identifier", "size"), [(1, 32), (4, 32)])
def test_dh_lookup(identifier: int, size: int) -> None:
    assert registry.dh(identifier).public_key_size == size


@pytest.mark.parametrize(
    ("lookup", "identifier"),
    [
        (registry.kem, 2),
        (registry.signature, -35),
        (registry.aead, 2),
        (registry.hash_algorithm, -44),
        (registry.dh, -65702),
    ],
)
def test_unknown_identifier_raises_unsupported_algorithm(lookup: object, identifier: int) -> None:
    with pytest.raises(
        UnsupportedAlgorithm, match=f"identifier {identifier}; supported identifiers: "
    ):
        lookup(identifier)  # type: ignore[operator]


def test_known_identifiers_cover_every_kind() -> None:
    known = registry.known_identifiers()
    assert set(known) == {"kem", "dh", "signature", "aead", "hash"}
    assert -65704 in known["kem"] and 4 in known["kem"]
