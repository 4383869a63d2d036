"""The suite registry is the D2 table, as data."""

from __future__ import annotations

import json

import pytest

from pqiot.reference import suites
from pqiot.reference.suites import DEFAULT_SUITE, CipherSuite

# D2, row by row: id -> (key exchange, signature, AEAD, hash, MAC length, status)
D2 = {
    0: (4, -8, 10, -16, 8, "check-only"),
    2: (1, -7, 10, -16, 8, "check-only"),
    -101: (-65701, -48, 10, -16, 16, "standard"),
    -102: (-65702, -48, 3, -16, 16, "standard"),
    -103: (-65702, -49, 3, -43, 16, "standard"),
    -104: (-65703, -50, 3, -43, 16, "standard"),
    -105: (-65702, -48, 24, -16, 16, "standard"),
    -106: (-65702, -48, 3, -45, 16, "standard"),
    -107: (-65704, -49, 3, -16, 16, "experimental"),
    -108: (-65701, -65601, 10, -16, 16, "experimental"),
    -109: (-65702, -65601, 3, -16, 16, "experimental"),
    -110: (-65703, -65602, 3, -43, 16, "experimental"),
}


def test_registry_is_exactly_the_d2_table() -> None:
    table = {
        s.id: (s.key_exchange, s.signature_alg, s.edhoc_aead, s.edhoc_hash, s.mac_length, s.status)
        for s in suites.all_suites()
    }
    assert table == D2


def test_edhoc_aead_equals_app_aead_and_app_hash_is_sha2() -> None:
    """D2: AEAD (EDHOC = app); OSCORE HKDF uses the suite hash when SHA-2, HKDF-SHA-256 for SHAKE256."""
    for suite in suites.all_suites():
        assert suite.app_aead == suite.edhoc_aead
        assert suite.app_hash == (-16 if suite.edhoc_hash == -45 else suite.edhoc_hash)


def test_default_suite() -> None:
    assert (
        DEFAULT_SUITE == -102
        and suites.get(DEFAULT_SUITE).name == "MLKEM768-MLDSA44-A256GCM-SHA256"
    )


def test_methods_per_suite() -> None:
    """D3: signature for all; static DH only for the classical check-only suites; PSK for PQ suites."""
    for suite in suites.all_suites():
        expected = {0, 3} if suite.id in (0, 2) else {0, 4}
        assert suite.allowed_methods == expected and suite.is_kem == (suite.id not in (0, 2))


def test_unknown_suite_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known suites: 0, 2, -101"):
        suites.get(6)


@pytest.mark.parametrize("suite", suites.all_suites(), ids=lambda s: str(s.id))
def test_algorithm_objects_resolve_with_the_right_identifiers(suite: CipherSuite) -> None:
    assert suite.kem().identifier == suite.key_exchange
    assert suite.aead().cose_alg == suite.edhoc_aead
    assert suite.application_aead().cose_alg == suite.app_aead
    assert suite.hash().cose_alg == suite.edhoc_hash
    assert suite.application_hash().cose_alg == suite.app_hash
    if suite.signature_alg not in (
        -65601,
        -65602,
    ):  # importing Falcon pulls numpy; checked by its own tests
        assert suite.signature().cose_alg == suite.signature_alg


def test_to_json_is_plain_data() -> None:
    rows = [s.to_json() for s in suites.all_suites()]
    assert json.loads(json.dumps(rows)) == rows
    default = next(r for r in rows if r["default"])
    assert (
        default["id"] == -102 and default["methods"] == [0, 4] and default["status"] == "standard"
    )
