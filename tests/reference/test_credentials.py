"""Credential shape and validity rules of spec §4.3 (REQ-CRED-001/003/004/008)."""

from __future__ import annotations

from typing import Any

import pytest

from pqiot.reference import cbor
from pqiot.reference.credentials import check_validity, parse_ccs
from pqiot.reference.errors import Alert, DecodeError, ProtocolError

ML_DSA_44 = -48
FALCON_512 = -65601


def ccs(**changes: Any) -> dict[Any, Any]:
    """A well-formed ML-DSA-44 CCS, with top-level claims or COSE_Key fields replaced."""
    key: dict[Any, Any] = {1: 7, 2: b"\xa1", 3: ML_DSA_44, -1: bytes(1312)}
    key.update(changes.pop("key", {}))
    value: dict[Any, Any] = {2: "plc-17.line-3", 8: {1: key}}
    value.update(changes.pop("claims", {}))
    assert not changes
    return value


def refused(value: object) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        parse_ccs(cbor.encode(value))  # type: ignore[arg-type]
    assert info.value.alert is Alert.DECODE_ERROR
    return info.value


def test_a_well_formed_ccs_keeps_its_bytes_and_fields() -> None:
    encoded = cbor.encode(ccs())
    credential = parse_ccs(encoded)
    assert credential.cred == encoded
    assert (credential.kid, credential.algorithm, credential.subject) == (
        b"\xa1",
        ML_DSA_44,
        "plc-17.line-3",
    )
    assert credential.public_key == bytes(1312)
    assert (credential.not_before, credential.expires) == (None, None)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({8: ccs()[8]}, id="sub-missing"),
        pytest.param({**ccs(), 2: b"plc"}, id="sub-is-bstr"),
        pytest.param({2: "plc"}, id="cnf-missing"),
        pytest.param({**ccs(), 8: {3: b"\xa1"}}, id="cnf-without-cose-key"),
        pytest.param({**ccs(), 8: {**ccs()[8], 3: b"\xa1"}}, id="cnf-with-two-entries"),
        pytest.param({**ccs(), 8: {1: cbor.encode(ccs()[8][1])}}, id="cose-key-not-a-map"),
        pytest.param([ccs()[2], ccs()[8]], id="ccs-is-an-array"),
    ],
)
def test_anything_but_a_ccs_with_text_sub_and_one_cose_key_is_a_decode_error(
    value: object,
) -> None:
    """REQ-CRED-001: a text sub (2) and cnf (8) holding exactly one COSE_Key under key 1."""
    assert refused(value).requirement == "REQ-CRED-001"


@pytest.mark.parametrize(
    ("alg", "size"),
    [(ML_DSA_44, 1312), (-49, 1952), (-50, 2592), (FALCON_512, 897), (-65602, 1793)],
)
def test_pub_must_have_the_size_of_its_alg(alg: int, size: int) -> None:
    """REQ-CRED-003 with the public-key sizes of spec §3.4."""
    assert parse_ccs(cbor.encode(ccs(key={3: alg, -1: bytes(size)}))).public_key == bytes(size)
    for wrong in (size - 1, size + 1):
        error = refused(ccs(key={3: alg, -1: bytes(wrong)}))
        assert error.requirement == "REQ-CRED-003"
        assert f"must be {size} bytes, got {wrong}" in error.detail


def test_classical_keys_must_be_32_bytes() -> None:
    """REQ-CRED-003 for the check-only suites: X25519/Ed25519 x and P-256 x are 32 bytes."""

    def okp(x: bytes) -> dict[Any, Any]:
        return {2: "ed", 8: {1: {1: 1, 2: b"\x01", -1: 6, -2: x}}}

    assert refused(okp(bytes(31))).requirement == "REQ-CRED-003"
    assert parse_ccs(cbor.encode(okp(bytes(32)))).algorithm == -8


@pytest.mark.parametrize(
    ("kid", "ok"),
    [
        (b"\x01", True),
        (bytes(16), True),
        (b"", False),
        (bytes(17), False),
        (-3, False),
        (None, False),
    ],
    ids=["1-byte", "16-bytes", "empty", "17-bytes", "int", "missing"],
)
def test_kid_is_a_byte_string_of_1_to_16_bytes(kid: object, ok: bool) -> None:
    """REQ-CRED-004."""
    value = ccs(key={2: kid})
    if kid is None:
        del value[8][1][2]
    if ok:
        assert parse_ccs(cbor.encode(value)).kid == kid
    else:
        assert refused(value).requirement == "REQ-CRED-004"


def test_exp_and_nbf_must_be_integer_numeric_dates() -> None:
    credential = parse_ccs(cbor.encode(ccs(claims={4: 1_900_000_000, 5: 1_700_000_000})))
    assert (credential.not_before, credential.expires) == (1_700_000_000, 1_900_000_000)
    refused(ccs(claims={4: "2030-01-01"}))
    refused(ccs(claims={5: True}))


@pytest.mark.parametrize(
    ("claims", "now", "valid"),
    [
        ({4: 1000}, 999.9, True),
        ({4: 1000}, 1000.0, False),  # exp: not valid at or after (RFC 8392 §3.1.4)
        ({5: 1000}, 1000.0, True),
        ({5: 1000}, 999.9, False),  # nbf: not valid before (RFC 8392 §3.1.5)
        ({4: 1}, 1_767_225_600.0, False),  # the conformance suite's exp-1970 case
        ({5: 4_102_444_800}, 1_767_225_600.0, False),  # nbf in 2100
        ({}, 0.0, True),
    ],
)
def test_validity_period_is_checked_against_the_clock(
    claims: dict[int, int], now: float, valid: bool
) -> None:
    """REQ-CRED-008: exp in the past or nbf in the future is authentication_failed."""
    credential = parse_ccs(cbor.encode(ccs(claims=claims)))
    if valid:
        check_validity(credential, now)
        return
    with pytest.raises(ProtocolError) as info:
        check_validity(credential, now)
    assert (info.value.alert, info.value.requirement) == (
        Alert.AUTHENTICATION_FAILED,
        "REQ-CRED-008",
    )
