"""EDHOC hash algorithms: HKDF (RFC 5869) and KMAC256 for SHAKE256 suites (RFC 9528 §4.1.1)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pqiot.reference.crypto.hashes import SHA256, SHA384, SHAKE256
from pqiot.reference.crypto.kmac import cshake256, kmac256, shake256
from pqiot.reference.errors import CryptoError
from pqiot.vectors.sources.cryptography_vectors import rsp_records
from pqiot.vectors.sources.nist_rsp import hex_bytes

DATA = Path(__file__).parent / "data"


def test_hkdf_sha256_rfc5869_appendix_a() -> None:
    records = list(rsp_records("KDF/rfc-5869-HKDF-SHA256.txt"))
    assert len(records) == 3
    for r in records:
        prk = SHA256.extract(hex_bytes(r, "salt"), hex_bytes(r, "ikm"))
        assert prk == hex_bytes(r, "prk"), r["count"]
        assert SHA256.expand(prk, hex_bytes(r, "info"), int(r["l"])) == hex_bytes(r, "okm")


@pytest.mark.parametrize("length", [0, 1, 48, 49, 200, 255 * 48])
def test_hkdf_sha384_agrees_with_cryptography(length: int) -> None:
    """No RFC vectors exist for SHA-384; pyca's HKDF is the independent check."""
    salt, ikm, info = b"salt" * 5, b"input keying material", b"info"
    prk = SHA384.extract(salt, ikm)
    assert len(prk) == SHA384.digest_size == 48
    if length:
        reference = HKDF(hashes.SHA384(), length, salt, info).derive(ikm)
        assert SHA384.expand(prk, info, length) == reference
    else:
        assert SHA384.expand(prk, info, 0) == b""


def test_hkdf_expand_rejects_oversized_output() -> None:
    with pytest.raises(CryptoError, match="8160"):
        SHA256.expand(bytes(32), b"", 255 * 32 + 1)


def test_sha2_hash_outputs() -> None:
    assert SHA256.hash(b"abc") == hashlib.sha256(b"abc").digest()
    assert SHA384.hash(b"abc") == hashlib.sha384(b"abc").digest()
    assert (SHA256.cose_alg, SHA384.cose_alg, SHAKE256.cose_alg) == (-16, -43, -45)


@pytest.mark.parametrize("length", [0, 1, 135, 136, 137, 500])
def test_keccak_sponge_matches_hashlib_shake256(length: int) -> None:
    data = bytes(i % 251 for i in range(length))
    assert shake256(data, 300) == hashlib.shake_256(data).digest(300)


def test_cshake_without_name_and_customization_is_shake() -> None:
    assert cshake256(b"abc", 64) == hashlib.shake_256(b"abc").digest(64)


def test_kmac256_nist_sp800_185_samples() -> None:
    samples = json.loads((DATA / "kmac256_sp800_185_samples.json").read_text())["samples"]
    assert [s["name"] for s in samples] == ["Sample #4", "Sample #5", "Sample #6"]
    for s in samples:
        data = bytes(range(*s["data_range"]))
        out = kmac256(
            bytes.fromhex(s["key"]), data, s["output_bits"] // 8, s["customization"].encode()
        )
        assert out.hex() == s["output"], s["name"]


@pytest.mark.parametrize(
    ("key_len", "data_len", "out_len"), [(32, 0, 32), (32, 7, 64), (200, 300, 17), (64, 1, 400)]
)
def test_kmac256_agrees_with_pycryptodome(key_len: int, data_len: int, out_len: int) -> None:
    """pycryptodome (a Falcon dependency) is an independent KMAC256 implementation (keys >= 32 bytes)."""
    kmac_module = pytest.importorskip("Crypto.Hash.KMAC256")
    key = bytes(range(key_len % 256)) * (key_len // 256 + 1)
    key = key[:key_len]
    data = bytes(reversed(range(256))) * 2
    mac = kmac_module.new(key=key, mac_len=out_len, custom=b"")
    mac.update(data[:data_len])
    assert kmac256(key, data[:data_len], out_len) == mac.digest()


def test_shake256_edhoc_kdf_is_kmac256_with_rfc9528_lengths() -> None:
    """RFC 9528 §4.1.1: Extract = KMAC256(salt, IKM, 512, ""), Expand = KMAC256(PRK, info, 8*length, "")."""
    salt, ikm, info = b"TH_2" * 8, b"G_XY shared secret", b"\x00\x58\x20" + bytes(32) + b"\x18\x20"
    prk = SHAKE256.extract(salt, ikm)
    assert prk == kmac256(salt, ikm, 64) and len(prk) == 64
    assert SHAKE256.expand(prk, info, 16) == kmac256(prk, info, 16)
    # KMAC binds the output length: a shorter expand is not a prefix of a longer one.
    assert SHAKE256.expand(prk, info, 32)[:16] != SHAKE256.expand(prk, info, 16)
    assert SHAKE256.hash(b"m") == hashlib.shake_256(b"m").digest(64)
    assert SHAKE256.digest_size == 64
