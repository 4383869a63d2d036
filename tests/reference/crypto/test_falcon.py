"""Falcon-512/1024 (round-3, padded): known answers from the package's round-3 C signatures.

``falcon.scripts.sign_KAT`` (shipped inside ``falcon-digital-signature``) holds,
for 12 keys per degree, the (f, g, F, G) inputs and the padded signatures of
b"data1" made by the round-3 reference C code with randomness from
SHAKE256(b"external"). They are loaded from the package, never copied.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pqiot.reference.crypto.falcon import (
    FALCON512,
    FALCON1024,
    Falcon,
    compress_signature_polynomial,
    decompress_signature_polynomial,
    hash_to_point,
)
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.errors import CryptoError

sign_kat = pytest.importorskip("falcon.scripts.sign_KAT").sign_KAT

SCHEMES = {512: FALCON512, 1024: FALCON1024}
IDS = ["Falcon-512", "Falcon-1024"]
KAT_MESSAGE = b"data1"


def _key(scheme: Falcon, record: dict[str, Any]) -> tuple[bytes, bytes]:
    private_key = scheme.encode_private_key(record["f"], record["g"], record["F"])
    return scheme.public_key_from_private(private_key), private_key


@pytest.mark.parametrize("n", [512, 1024], ids=IDS)
def test_round3_c_signatures_verify(n: int) -> None:
    """Every round-3 C signature in the package KAT verifies under our verifier and encodings."""
    scheme = SCHEMES[n]
    records = sign_kat[n]
    assert len(records) == 12
    for record in records:
        public_key, _ = _key(scheme, record)
        signature = bytes.fromhex(record["sig"])
        assert len(signature) == scheme.signature_size
        assert signature[0] == 0x30 + scheme.params.logn
        assert decompress_signature_polynomial(signature[41:], n) == record["s2"]
        assert scheme.verify(public_key, KAT_MESSAGE, signature)
        assert not scheme.verify(public_key, b"data2", signature)


@pytest.mark.parametrize("n", [512, 1024], ids=IDS)
def test_private_key_encoding_round_trip_recomputes_g(n: int) -> None:
    scheme = SCHEMES[n]
    record = sign_kat[n][0]
    _, private_key = _key(scheme, record)
    assert len(private_key) == scheme.private_key_size == {512: 1281, 1024: 2305}[n]
    assert private_key[0] == 0x50 + scheme.params.logn
    assert scheme.decode_private_key(private_key) == (
        record["f"],
        record["g"],
        record["F"],
        record["G"],
    )
    public_key = scheme.public_key_from_private(private_key)
    assert len(public_key) == scheme.public_key_size == {512: 897, 1024: 1793}[n]
    assert public_key[0] == scheme.params.logn
    assert scheme.encode_public_key(scheme.decode_public_key(public_key)) == public_key


@pytest.mark.parametrize("n", [512, 1024], ids=IDS)
def test_signing_is_deterministic_for_a_deterministic_rng(n: int) -> None:
    scheme = SCHEMES[n]
    public_key, private_key = _key(scheme, sign_kat[n][1])
    first = scheme.sign(private_key, b"message", ShakeRng(b"sign"))
    assert first == scheme.sign(private_key, b"message", ShakeRng(b"sign"))
    assert len(first) == scheme.signature_size
    assert scheme.verify(public_key, b"message", first)
    assert scheme.verify(public_key, b"message", scheme.sign(private_key, b"message"))


def _replay_kat(degrees: tuple[int, ...], per_degree: int | None) -> int:
    """Replay the package KAT's SHAKE256 stream; sign 512/1024 records through our module."""
    from Crypto.Hash import SHAKE256
    from falcon.falcon import SecretKey

    shake = SHAKE256.new(b"external")
    reproduced = 0
    for n, records in sign_kat.items():
        if n > max(degrees):
            break
        for index, record in enumerate(records):
            shake.read(8 * record["read_bytes"])
            if n in SCHEMES:
                if per_degree is not None and index >= per_degree:
                    return reproduced
                _, private_key = _key(SCHEMES[n], record)
                signature = SCHEMES[n].sign(private_key, KAT_MESSAGE, shake.read)
                reproduced += 1
            else:
                secret = SecretKey(n, [record["f"], record["g"], record["F"], record["G"]])
                signature = secret.sign(KAT_MESSAGE, shake.read)
            assert signature == bytes.fromhex(record["sig"]), (n, index)
    return reproduced


@pytest.mark.slow
def test_sign_reproduces_first_round3_c_signature() -> None:
    """Byte-for-byte: our Falcon-512 signer re-creates the C signature (~4 s: replays n = 2..256)."""
    assert _replay_kat((512,), per_degree=1) == 1


@pytest.mark.slow
def test_sign_reproduces_all_round3_c_signatures() -> None:
    assert _replay_kat((512, 1024), per_degree=None) == 24


@pytest.mark.parametrize("n", [512, 1024], ids=IDS)
def test_verify_rejects_malformed_signatures(n: int) -> None:
    scheme = SCHEMES[n]
    record = sign_kat[n][2]
    public_key, _ = _key(scheme, record)
    signature = bytes.fromhex(record["sig"])
    assert scheme.verify(public_key, KAT_MESSAGE, signature)

    def variant(index: int, value: int) -> bytes:
        out = bytearray(signature)
        out[index] = value
        return bytes(out)

    used_bits = sum(8 + (abs(c) >> 7) + 1 for c in record["s2"])
    first_padding_byte = 41 + used_bits // 8 + 1
    assert first_padding_byte < len(signature), "KAT signature has no whole padding byte"
    partial_bits = used_bits % 8  # padding bits inside the last used byte
    assert partial_bits < 8
    cases = {
        "short": signature[:-1],
        "long": signature + b"\x00",
        "bad header": variant(0, 0x39 if n == 1024 else 0x3A),
        "compressed-format header": variant(0, 0x20 + scheme.params.logn),
        "non-zero padding (last byte)": variant(len(signature) - 1, 0x01),
        "non-zero padding (first padding byte)": variant(first_padding_byte, 0x80),
        "non-zero padding bit in last used byte": variant(
            41 + used_bits // 8, signature[41 + used_bits // 8] | (0x80 >> partial_bits)
        )
        if partial_bits
        else variant(first_padding_byte, 0x01),
        "salt changed": variant(1, signature[1] ^ 0x01),
        "empty": b"",
    }
    for name, bad in cases.items():
        assert scheme.verify(public_key, KAT_MESSAGE, bad) is False, name


def test_verify_rejects_norm_violation() -> None:
    """A canonical encoding of a too-long s2 fails only on the norm bound."""
    scheme = FALCON512
    record = sign_kat[512][3]
    public_key, _ = _key(scheme, record)
    signature = bytes.fromhex(record["sig"])
    s2 = list(record["s2"])
    s2[0] += 1500 if s2[0] >= 0 else -1500
    body = compress_signature_polynomial(s2, scheme.signature_size - 41)
    assert body is not None and decompress_signature_polynomial(body, 512) == s2
    assert scheme.verify(public_key, KAT_MESSAGE, signature[:41] + body) is False


def test_decompression_is_strict() -> None:
    coefficients = [0, 1, -1, 127, -128, 2047, -300] + [0] * 505
    body = compress_signature_polynomial(coefficients, 625)
    assert body is not None and decompress_signature_polynomial(body, 512) == coefficients
    assert decompress_signature_polynomial(b"\x80" + body[1:], 512) is None  # "-0"
    assert decompress_signature_polynomial(body[:-600], 512) is None  # runs out of bits
    assert compress_signature_polynomial([2048] + [0] * 511, 625) is None
    assert compress_signature_polynomial([2047] * 512, 625) is None  # does not fit


def test_public_key_decoding_checks() -> None:
    record = sign_kat[512][0]
    public_key, _ = _key(FALCON512, record)
    with pytest.raises(CryptoError, match="header"):
        FALCON512.decode_public_key(b"\x0a" + public_key[1:])
    with pytest.raises(CryptoError, match="897 bytes"):
        FALCON512.decode_public_key(public_key[:-1])
    with pytest.raises(CryptoError, match=">= q"):
        FALCON512.decode_public_key(public_key[:1] + b"\xff\xff" + public_key[3:])
    assert FALCON512.verify(public_key[:-1], KAT_MESSAGE, bytes.fromhex(record["sig"])) is False


def test_private_key_decoding_checks() -> None:
    record = sign_kat[512][0]
    _, private_key = _key(FALCON512, record)
    with pytest.raises(CryptoError, match="header"):
        FALCON512.decode_private_key(b"\x5a" + private_key[1:])
    with pytest.raises(CryptoError, match="1281 bytes"):
        FALCON512.decode_private_key(private_key + b"\x00")
    tampered = bytearray(private_key)
    tampered[-1] ^= 0x7F  # changes F: fG - gF = q no longer holds, G is out of range
    with pytest.raises(CryptoError):
        FALCON512.decode_private_key(bytes(tampered))


def test_hash_to_point_range() -> None:
    point = hash_to_point(bytes(40), b"msg", 512)
    assert len(point) == 512 and all(0 <= c < 12289 for c in point)


@pytest.mark.slow
@pytest.mark.parametrize("n", [512, 1024], ids=IDS)
def test_keygen_from_rng_is_deterministic_and_usable(n: int) -> None:
    """Key generation is slow in pure Python (measured ~3 s for 512, ~40 s for 1024)."""
    scheme = SCHEMES[n]
    started = time.perf_counter()
    public_key, private_key = scheme.generate(ShakeRng(b"falcon keygen"))
    elapsed = time.perf_counter() - started
    assert (len(public_key), len(private_key)) == (scheme.public_key_size, scheme.private_key_size)
    assert scheme.public_key_from_private(private_key) == public_key
    signature = scheme.sign(private_key, b"m", ShakeRng(b"s"))
    assert scheme.verify(public_key, b"m", signature)
    if n == 512:
        assert scheme.generate(ShakeRng(b"falcon keygen")) == (public_key, private_key)
    print(f"{scheme.name} keygen: {elapsed:.1f} s")


def test_identifiers_and_sizes() -> None:
    assert (FALCON512.cose_alg, FALCON1024.cose_alg) == (-65601, -65602)
    assert (FALCON512.signature_size, FALCON1024.signature_size) == (666, 1280)
    from falcon.falcon import Params

    for n, scheme in SCHEMES.items():
        assert scheme.params.signature_bound == Params[n]["sig_bound"]
        assert scheme.signature_size == Params[n]["sig_bytelen"]
