"""X25519 + ML-KEM-768 with the X-Wing combiner (design decision D3)."""

from __future__ import annotations

import hashlib

import pytest

from pqiot.reference.crypto.ecc import X25519
from pqiot.reference.crypto.hybrid import X25519_MLKEM768, XWING_LABEL, xwing_combiner
from pqiot.reference.crypto.mlkem import MLKEM768
from pqiot.reference.crypto.rng import ShakeRng, system_rng
from pqiot.reference.errors import CryptoError

KEM = X25519_MLKEM768


def test_label_is_the_xwing_ascii_art() -> None:
    assert XWING_LABEL == b"\\.//^\\" == bytes.fromhex("5c2e2f2f5e5c")


def test_combiner_with_fixed_inputs() -> None:
    """SHA3-256 over ss_M || ss_X || ct_X || pk_X || label, in exactly that order."""
    ss_m, ss_x, ct_x, pk_x = (bytes([i]) * 32 for i in (1, 2, 3, 4))
    expected = hashlib.sha3_256(
        bytes([1]) * 32
        + bytes([2]) * 32
        + bytes([3]) * 32
        + bytes([4]) * 32
        + bytes.fromhex("5c2e2f2f5e5c")
    ).digest()
    assert xwing_combiner(ss_m, ss_x, ct_x, pk_x) == expected
    assert xwing_combiner(ss_x, ss_m, ct_x, pk_x) != expected


def test_layout_is_mlkem_first_then_x25519() -> None:
    ek, dk = KEM.generate(ShakeRng(b"layout"))
    assert len(ek) == 1184 + 32 == KEM.encapsulation_key_size
    assert len(dk) == 64 + 32
    assert ek[:1184] == MLKEM768.encapsulation_key_from_seed(dk[:64])
    assert ek[1184:] == X25519.public_key(dk[64:])
    encapsulation = KEM.encapsulate(ek, ShakeRng(b"enc"))
    assert len(encapsulation.ciphertext) == 1088 + 32 == KEM.ciphertext_size


def test_shared_secret_is_the_combiner_of_the_components() -> None:
    ek, dk = KEM.generate(ShakeRng(b"components"))
    encapsulation = KEM.encapsulate(ek, ShakeRng(b"enc"))
    ct_m, ct_x = encapsulation.ciphertext[:1088], encapsulation.ciphertext[1088:]
    ss_m = MLKEM768.decapsulate(dk[:64], ct_m)
    ss_x = X25519.exchange(dk[64:], ct_x)
    assert encapsulation.shared_secret == xwing_combiner(ss_m, ss_x, ct_x, ek[1184:])


def test_round_trip_and_identifier() -> None:
    assert KEM.identifier == -65704
    ek, dk = KEM.generate(system_rng)
    encapsulation = KEM.encapsulate(ek, system_rng)
    assert KEM.decapsulate(dk, encapsulation.ciphertext) == encapsulation.shared_secret


def test_tampered_x25519_part_changes_the_secret() -> None:
    ek, dk = KEM.generate(ShakeRng(b"tamper"))
    encapsulation = KEM.encapsulate(ek, ShakeRng(b"enc"))
    ct = bytearray(encapsulation.ciphertext)
    ct[-1] ^= 0x01
    assert KEM.decapsulate(dk, bytes(ct)) != encapsulation.shared_secret


def test_length_and_modulus_checks_apply() -> None:
    ek, dk = KEM.generate(ShakeRng(b"checks"))
    with pytest.raises(CryptoError, match="encapsulation key must be 1216"):
        KEM.encapsulate(ek[:-1], ShakeRng())
    with pytest.raises(CryptoError, match="ciphertext must be 1120"):
        KEM.decapsulate(dk, bytes(1119))
    with pytest.raises(CryptoError, match="decapsulation key must be 96"):
        KEM.decapsulate(dk[:-1], bytes(1120))
    bad = b"\xff\xff\xff" + ek[3:]
    with pytest.raises(CryptoError, match="modulus check"):
        KEM.encapsulate(bad, ShakeRng())
