"""ERR_INFO text of ERR_CODE 1 errors (REQ-HS-019) and the critical-EAD abort (REQ-HS-020)."""

from __future__ import annotations

import pytest

from pqiot.reference.edhoc.ead import check_ead
from pqiot.reference.edhoc.errors import MAX_ERR_INFO_BYTES, err_info, shorten
from pqiot.reference.edhoc.wire import EadItem
from pqiot.reference.errors import Alert, DecodeError, ProtocolError

G_X_DETAIL = (
    "G_X is not a valid key for suite -102: ML-KEM-768 encapsulation key fails the "
    "modulus check (a coefficient is >= 3329)"
)


def test_short_err_info_is_alert_name_and_detail_unchanged() -> None:
    assert err_info(Alert.DECODE_ERROR) == "decode_error"
    assert err_info(Alert.UNSPECIFIED_ERROR, "busy") == "unspecified_error: busy"


def test_long_detail_is_cut_to_128_bytes_keeping_the_alert_name() -> None:
    """REQ-HS-019: the 132-byte invalid-G_X text becomes exactly 128 bytes."""
    assert len(f"decode_error: {G_X_DETAIL}") == 132
    info = err_info(Alert.DECODE_ERROR, G_X_DETAIL)
    assert info == (
        "decode_error: G_X is not a valid key for suite -102: ML-KEM-768 encapsulation key "
        "fails the modulus check (a coefficient is >..."
    )
    assert len(info.encode()) == MAX_ERR_INFO_BYTES


def test_cut_never_splits_a_utf8_character() -> None:
    info = err_info(Alert.AUTHENTICATION_FAILED, "subject " + "ü" * 80)
    assert len(info.encode()) <= MAX_ERR_INFO_BYTES
    assert info.endswith("ü...")


def test_shorten_returns_the_same_error_when_it_fits() -> None:
    fits = DecodeError("C_R equals C_I (27)", "REQ-HS-009")
    assert shorten(fits) is fits
    cut = shorten(DecodeError(G_X_DETAIL, "REQ-SUITE-007"))
    assert (cut.alert, cut.requirement) == (Alert.DECODE_ERROR, "REQ-SUITE-007")
    assert f"{cut.alert.value}: {cut.detail}" == err_info(Alert.DECODE_ERROR, G_X_DETAIL)


def test_unknown_critical_ead_aborts_with_the_prescribed_text() -> None:
    """REQ-HS-020: "unspecified_error: unsupported critical EAD <label>"."""
    with pytest.raises(ProtocolError) as info:
        check_ead((EadItem(0, b"pad"), EadItem(-100, b"\x01")), frozenset())
    error = info.value
    assert err_info(error.alert, error.detail) == "unspecified_error: unsupported critical EAD -100"


def test_unknown_non_critical_ead_and_padding_are_ignored() -> None:
    items = (EadItem(0, b"\x00\x00"), EadItem(77, None), EadItem(-5, b"k"), EadItem(5, b"v"))
    assert check_ead(items, frozenset({5})) == (EadItem(-5, b"k"), EadItem(5, b"v"))
