"""AEAD algorithms against NIST CAVP (GCM, CCM) and OpenSSL (ChaCha20-Poly1305) vectors.

Vectors are loaded from the ``cryptography_vectors`` package.
"""

from __future__ import annotations

import pytest

from pqiot.reference.crypto.aead import (
    A128GCM,
    A256GCM,
    AES_CCM_16_64_128,
    AES_CCM_16_128_128,
    CHACHA20_POLY1305,
    CryptographyAead,
)
from pqiot.reference.errors import CryptoError, InvalidTag
from pqiot.vectors.sources.cryptography_vectors import rsp_records
from pqiot.vectors.sources.nist_rsp import hex_bytes


def _gcm_records(path: str) -> list[dict[str, str]]:
    """GCM records with the COSE profile: 96-bit IV, 128-bit tag."""
    return [r for r in rsp_records(path) if r["ivlen"] == "96" and r["taglen"] == "128"]


@pytest.mark.parametrize(
    ("aead", "size"), [(A128GCM, 128), (A256GCM, 256)], ids=["A128GCM", "A256GCM"]
)
def test_gcm_encrypt_matches_cavp(aead: CryptographyAead, size: int) -> None:
    records = _gcm_records(f"ciphers/AES/GCM/gcmEncryptExtIV{size}.rsp")
    assert len(records) > 100
    for r in records:
        key, iv, pt, aad = (
            hex_bytes(r, "key"),
            hex_bytes(r, "iv"),
            hex_bytes(r, "pt"),
            hex_bytes(r, "aad"),
        )
        expected = hex_bytes(r, "ct") + hex_bytes(r, "tag")
        assert aead.seal(key, iv, pt, aad) == expected, r["count"]
        assert aead.open(key, iv, expected, aad) == pt


@pytest.mark.parametrize(
    ("aead", "size"), [(A128GCM, 128), (A256GCM, 256)], ids=["A128GCM", "A256GCM"]
)
def test_gcm_decrypt_rejects_cavp_fail_records(aead: CryptographyAead, size: int) -> None:
    records = _gcm_records(f"ciphers/AES/GCM/gcmDecrypt{size}.rsp")
    failures = 0
    for r in records:
        key, iv, aad = hex_bytes(r, "key"), hex_bytes(r, "iv"), hex_bytes(r, "aad")
        sealed = hex_bytes(r, "ct") + hex_bytes(r, "tag")
        if "fail" in r:
            failures += 1
            with pytest.raises(InvalidTag):
                aead.open(key, iv, sealed, aad)
        else:
            assert aead.open(key, iv, sealed, aad) == hex_bytes(r, "pt")
    assert failures > 10


@pytest.mark.parametrize(("aead", "tlen"), [(AES_CCM_16_64_128, "8"), (AES_CCM_16_128_128, "16")])
def test_ccm_encrypt_matches_cavp_vtt(aead: CryptographyAead, tlen: str) -> None:
    """AES-CCM with 13-byte nonce (L=2) and 8/16-byte tag, as COSE ids 10 and 30 fix them."""
    records = [r for r in rsp_records("ciphers/AES/CCM/VTT128.rsp") if r["tlen"] == tlen]
    assert records and all(r["nlen"] == "13" for r in records)
    for r in records:
        key, nonce = hex_bytes(r, "key"), hex_bytes(r, "nonce")
        adata, payload = hex_bytes(r, "adata"), hex_bytes(r, "payload")
        assert aead.seal(key, nonce, payload, adata) == hex_bytes(r, "ct"), r["count"]


def test_ccm_decrypt_verification_vectors() -> None:
    """CAVP DVPT: 13-byte nonce, 16-byte tag; 'Fail' records must raise InvalidTag."""
    records = [
        r
        for r in rsp_records("ciphers/AES/CCM/DVPT128.rsp")
        if r["nlen"] == "13" and r["tlen"] == "16"
    ]
    outcomes = {"Pass": 0, "Fail": 0}
    for r in records:
        key, nonce, ct = hex_bytes(r, "key"), hex_bytes(r, "nonce"), hex_bytes(r, "ct")
        adata = hex_bytes(r, "adata")[: int(r["alen"])]  # "00" placeholder when Alen = 0
        outcomes[r["result"]] += 1
        if r["result"] == "Fail":
            with pytest.raises(InvalidTag):
                AES_CCM_16_128_128.open(key, nonce, ct, adata)
        else:
            payload = hex_bytes(r, "payload")[: int(r["plen"])]
            assert AES_CCM_16_128_128.open(key, nonce, ct, adata) == payload
    assert outcomes["Pass"] > 0 and outcomes["Fail"] > 0


def test_chacha20_poly1305_openssl_vectors() -> None:
    records = list(rsp_records("ciphers/ChaCha20Poly1305/openssl.txt"))
    assert len(records) == 5
    for r in records:
        key, iv, aad = hex_bytes(r, "key"), hex_bytes(r, "iv"), hex_bytes(r, "aad")
        sealed = hex_bytes(r, "ciphertext") + hex_bytes(r, "tag")
        if r.get("result") == "CIPHERFINAL_ERROR":
            with pytest.raises(InvalidTag):
                CHACHA20_POLY1305.open(key, iv, sealed, aad)
        else:
            assert CHACHA20_POLY1305.seal(key, iv, hex_bytes(r, "plaintext"), aad) == sealed
            assert CHACHA20_POLY1305.open(key, iv, sealed, aad) == hex_bytes(r, "plaintext")


@pytest.mark.parametrize(
    "aead", [A128GCM, A256GCM, AES_CCM_16_64_128, AES_CCM_16_128_128, CHACHA20_POLY1305]
)
def test_sizes_and_identifiers_follow_cose(aead: CryptographyAead) -> None:
    expected = {
        1: (16, 12, 16),
        3: (32, 12, 16),
        10: (16, 13, 8),
        30: (16, 13, 16),
        24: (32, 12, 16),
    }[aead.cose_alg]
    assert (aead.key_size, aead.nonce_size, aead.tag_size) == expected
    sealed = aead.seal(bytes(aead.key_size), bytes(aead.nonce_size), b"payload", b"aad")
    assert len(sealed) == len(b"payload") + aead.tag_size


@pytest.mark.parametrize("aead", [A256GCM, AES_CCM_16_64_128, CHACHA20_POLY1305])
def test_wrong_key_or_nonce_length_is_a_crypto_error(aead: CryptographyAead) -> None:
    with pytest.raises(CryptoError, match="key"):
        aead.seal(bytes(aead.key_size - 1), bytes(aead.nonce_size), b"", b"")
    with pytest.raises(CryptoError, match="nonce"):
        aead.open(bytes(aead.key_size), bytes(aead.nonce_size + 1), bytes(aead.tag_size), b"")


@pytest.mark.parametrize("aead", [A256GCM, AES_CCM_16_64_128, CHACHA20_POLY1305])
def test_tampering_raises_invalid_tag(aead: CryptographyAead) -> None:
    key, nonce = bytes(range(aead.key_size)), bytes(aead.nonce_size)
    sealed = aead.seal(key, nonce, b"hello", b"aad")
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    for ciphertext, aad in [
        (flipped, b"aad"),
        (sealed, b"aaD"),
        (sealed[: aead.tag_size - 1], b"aad"),
    ]:
        with pytest.raises(InvalidTag):
            aead.open(key, nonce, ciphertext, aad)
