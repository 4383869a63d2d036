"""Classical curves: X25519 (RFC 7748), P-256 x-only ECDH (NIST CAVS KAS), Ed25519 (RFC 8032), ES256."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pqiot.reference.crypto.ecc import ED25519, ES256, P256, X25519, DhAsKem
from pqiot.reference.crypto.rng import ShakeRng, system_rng
from pqiot.reference.errors import CryptoError
from pqiot.vectors.sources.cryptography_vectors import read_lines, rsp_records
from pqiot.vectors.sources.ed25519_sign_input import parse_sign_input
from pqiot.vectors.sources.nist_rsp import hex_bytes


def test_x25519_rfc7748_section_5_2_vectors() -> None:
    records = list(rsp_records("asymmetric/X25519/rfc7748.txt"))
    assert len(records) >= 2
    for r in records:
        assert X25519.exchange(hex_bytes(r, "input_scalar"), hex_bytes(r, "input_u")) == hex_bytes(
            r, "output_u"
        )


def test_x25519_rejects_low_order_point() -> None:
    with pytest.raises(CryptoError, match="low-order"):
        X25519.exchange(bytes(range(32)), bytes(32))


def _p256_kas_records() -> list[dict[str, str]]:
    """NIST CAVS ECC KAS (dhStaticUnified, ZZ only), section EC = P-256, valid records."""
    path = "asymmetric/ECDH/KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_init.fax"
    return [r for r in rsp_records(path) if "ec - sha256" in r and r["result"].startswith("P")]


def test_p256_x_only_exchange_matches_nist_kas_vectors() -> None:
    """Only the x-coordinate of the CAVS key is used: the shared x does not depend on the sign of y."""
    records = _p256_kas_records()
    assert len(records) >= 5
    for r in records:
        private = hex_bytes(r, "dsiut")
        assert P256.public_key(private) == hex_bytes(r, "qsiutx")
        assert P256.exchange(private, hex_bytes(r, "qscavsx")) == hex_bytes(r, "z")


def test_p256_exchange_is_symmetric_and_x_only() -> None:
    (pub_a, priv_a), (pub_b, priv_b) = P256.generate(ShakeRng(b"a")), P256.generate(ShakeRng(b"b"))
    assert len(pub_a) == 32
    assert P256.exchange(priv_a, pub_b) == P256.exchange(priv_b, pub_a)


def test_p256_rejects_x_not_on_curve_and_bad_scalars() -> None:
    with pytest.raises(CryptoError, match="not the x-coordinate"):
        P256.exchange(P256.generate(system_rng)[1], b"\xff" * 32)
    with pytest.raises(CryptoError, match=r"\[1, n-1\]"):
        P256.public_key(bytes(32))
    with pytest.raises(CryptoError, match="32-byte x-coordinate"):
        P256.exchange(P256.generate(system_rng)[1], bytes(33))


def test_ed25519_rfc8032_vectors_from_sign_input() -> None:
    lines = read_lines("asymmetric/Ed25519/sign.input")[:64]
    for vector in parse_sign_input(lines, "sign.input"):
        assert ED25519.public_key(vector["seed"]) == vector["public_key"]
        assert ED25519.sign(vector["seed"], vector["message"]) == vector["signature"]
        assert ED25519.verify(vector["public_key"], vector["message"], vector["signature"])
        assert not ED25519.verify(
            vector["public_key"], vector["message"] + b"x", vector["signature"]
        )


def test_ed25519_verify_never_raises() -> None:
    pk, sk = ED25519.generate(system_rng)
    sig = ED25519.sign(sk, b"m")
    assert not ED25519.verify(pk[:-1], b"m", sig)
    assert not ED25519.verify(pk, b"m", sig[:-1])
    assert not ED25519.verify(b"\xff" * 32, b"m", sig)


def test_es256_signature_is_raw_r_s_and_verifies_with_cryptography() -> None:
    pk, sk = ES256.generate(ShakeRng(b"es256"))
    assert len(pk) == 65 and pk[0] == 4
    sig = ES256.sign(sk, b"payload")
    assert len(sig) == 64
    assert sig == ES256.sign(sk, b"payload")  # rng=None: RFC 6979 deterministic nonce
    assert ES256.verify(pk, b"payload", sig)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pk)
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    public.verify(der, b"payload", ec.ECDSA(hashes.SHA256()))
    compressed = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    assert ES256.verify(compressed, b"payload", sig)


def test_es256_verify_rejects_malformed_and_out_of_range() -> None:
    pk, sk = ES256.generate(system_rng)
    sig = ES256.sign(sk, b"m", system_rng)
    assert ES256.verify(pk, b"m", sig)
    order = bytes.fromhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
    for bad_pk, bad_sig in [
        (pk, sig[:-1]),
        (pk, bytes(64)),
        (pk, order + sig[32:]),
        (pk[:-1], sig),
        (b"\x04" + bytes(64), sig),
    ]:
        assert ES256.verify(bad_pk, b"m", bad_sig) is False
    assert not ES256.verify(pk, b"M", sig)


@pytest.mark.parametrize("group", [X25519, P256], ids=["X25519", "P-256"])
def test_dh_as_kem_round_trip(group: object) -> None:
    kem = DhAsKem(group)  # type: ignore[arg-type]
    ek, dk = kem.generate(ShakeRng(b"initiator"))
    encapsulation = kem.encapsulate(ek, ShakeRng(b"responder"))
    assert len(encapsulation.ciphertext) == kem.ciphertext_size == 32
    assert kem.decapsulate(dk, encapsulation.ciphertext) == encapsulation.shared_secret
    # The "ciphertext" is the responder's ephemeral public key: G_Y.
    _, y = kem.generate(ShakeRng(b"responder"))
    assert encapsulation.shared_secret == group.exchange(y, ek)  # type: ignore[attr-defined]


def test_identifiers() -> None:
    assert (X25519.identifier, P256.identifier, ED25519.cose_alg, ES256.cose_alg) == (4, 1, -8, -7)
