"""The strict CBOR profile: RFC 8949 Appendix A encodings, and rejection of everything else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pqiot.reference import cbor
from pqiot.reference.errors import DecodeError

# RFC 8949 Appendix A examples that fall inside the PQC-IIoT profile.
APPENDIX_A = [
    (0, "00"),
    (23, "17"),
    (24, "1818"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (b"", "40"),
    (bytes.fromhex("01020304"), "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
]


@pytest.mark.parametrize(("value", "encoding"), APPENDIX_A)
def test_rfc8949_appendix_a_encodings(value: cbor.CborValue, encoding: str) -> None:
    """REQ-ENC: items encode to the RFC 8949 Appendix A bytes and decode back."""
    assert cbor.encode(value).hex() == encoding
    assert cbor.decode(bytes.fromhex(encoding)) == value


def test_map_keys_are_sorted_bytewise_when_encoding() -> None:
    assert cbor.encode({"b": 1, 10: 2, -1: 3, "a": 4}).hex() == "a40a022003616104616201"


@pytest.mark.parametrize(
    "key",
    [True, False, None, b"\x01", (1, 2)],
    ids=["true", "false", "null", "bytes", "array"],
)
def test_encoder_refuses_map_keys_the_decoder_rejects(key: object) -> None:
    """REQ-ENC-005: map keys are int or text; the encoder must not produce what decoders reject."""
    with pytest.raises(TypeError, match=r"map keys must be int or str \(REQ-ENC-005\)"):
        cbor.encode({key: 1})  # type: ignore[dict-item]


def test_encoder_refuses_a_bad_key_in_a_nested_map() -> None:
    with pytest.raises(TypeError, match="REQ-ENC-005"):
        cbor.encode([1, {2: {b"kid": 3}}])


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [("a1f501", "true as map key"), ("a1f601", "null as map key"), ("a1410001", "bstr as map key")],
)
def test_decoder_rejects_the_same_map_keys(encoding: str, reason: str) -> None:
    """REQ-ENC-005, decoder side: the keys the encoder refuses are a decode_error on input."""
    with pytest.raises(DecodeError):
        cbor.decode(bytes.fromhex(encoding))


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [
        ("1817", "non-minimal head for 23"),
        ("190017", "non-minimal two-byte head"),
        ("1a0000ffff", "non-minimal four-byte head"),
        ("1b00000000ffffffff", "non-minimal eight-byte head"),
        ("5f40ff", "indefinite-length byte string"),
        ("9fff", "indefinite-length array"),
        ("f97e00", "half-precision float"),
        ("fb3ff199999999999a", "double-precision float"),
        ("f7", "undefined"),
        ("c11a514b67b0", "tag"),
        ("a201020102", "duplicate map key"),
        ("a203040102", "map keys out of order"),
        ("62c3", "truncated text"),
        ("44010203", "truncated bytes"),
        ("62c328", "invalid UTF-8"),
        ("8301", "truncated array"),
        ("a1820102", "array used as map key"),
        ("0000", "trailing bytes"),
        ("", "empty input"),
        ("5bffffffffffffffff", "huge length"),
        ("9bffffffffffffffff", "huge array"),
    ],
)
def test_outside_the_profile_is_a_decode_error(encoding: str, reason: str) -> None:
    with pytest.raises(DecodeError):
        cbor.decode(bytes.fromhex(encoding))


def test_nesting_limit() -> None:
    deep = bytes.fromhex("81" * (cbor.MAX_DEPTH + 2) + "00")
    with pytest.raises(DecodeError, match="nesting"):
        cbor.decode(deep)


def test_sequence_reads_items_in_order() -> None:
    data = cbor.encode_sequence(3, b"\x01", [1])
    assert cbor.decode_sequence(data) == [3, b"\x01", [1]]
    decoder = cbor.Decoder(data)
    assert decoder.read_int("method") == 3
    assert decoder.read_bytes("G_X") == b"\x01"
    with pytest.raises(DecodeError, match="integer"):
        decoder.read_int("x")


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.integers(-100, 100) | st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(values)
def test_decode_inverts_encode(value: cbor.CborValue) -> None:
    assert cbor.decode(cbor.encode(value)) == value


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        cbor.decode_sequence(data)
