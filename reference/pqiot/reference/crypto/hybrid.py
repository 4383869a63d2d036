"""X25519 + ML-KEM-768 hybrid KEM with the X-Wing combiner (design decision D3).

ek = ek_M || pk_X, ct = ct_M || ct_X (ML-KEM part first), and
ss = SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel) with the 6-byte label
``\\.//^\\`` (5c 2e 2f 2f 5e 5c), exactly the X-Wing combiner
(draft-connolly-cfrg-xwing-kem). Only the combiner is taken from X-Wing: the
private key is the pair of component keys (ML-KEM seed d||z, 64 bytes, then the
X25519 scalar, 32 bytes) rather than X-Wing's single 32-byte seed, so keys and
vectors are *not* interchangeable with X-Wing's own test vectors.
"""

from __future__ import annotations

import hashlib

from pqiot.reference.crypto.ecc import X25519, X25519Dh
from pqiot.reference.crypto.interfaces import Encapsulation, Rng
from pqiot.reference.crypto.mlkem import MLKEM768, MlKem
from pqiot.reference.errors import CryptoError

__all__ = ["X25519_MLKEM768", "XWING_LABEL", "HybridKem", "xwing_combiner"]

XWING_LABEL = b"\x5c\x2e\x2f\x2f\x5e\x5c"


def xwing_combiner(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    """SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)."""
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL).digest()


class HybridKem:
    """ML-KEM-768 + X25519 with the X-Wing combiner; key-exchange id -65704."""

    def __init__(
        self, mlkem: MlKem = MLKEM768, x25519: X25519Dh = X25519, identifier: int = -65704
    ) -> None:
        self.mlkem = mlkem
        self.x25519 = x25519
        self.name = f"X25519+{mlkem.name}"
        self.identifier = identifier
        self.encapsulation_key_size = mlkem.encapsulation_key_size + x25519.public_key_size
        self.ciphertext_size = mlkem.ciphertext_size + x25519.public_key_size
        self.shared_secret_size = 32
        self.decapsulation_key_size = mlkem.seed_size + 32

    def __repr__(self) -> str:
        return f"HybridKem({self.name})"

    def _split_ek(self, encapsulation_key: bytes) -> tuple[bytes, bytes]:
        if len(encapsulation_key) != self.encapsulation_key_size:
            raise CryptoError(
                f"{self.name} encapsulation key must be {self.encapsulation_key_size} bytes, "
                f"got {len(encapsulation_key)}"
            )
        split = self.mlkem.encapsulation_key_size
        return encapsulation_key[:split], encapsulation_key[split:]

    def generate(self, rng: Rng) -> tuple[bytes, bytes]:
        """ML-KEM seed first, then the X25519 scalar (both drawn from ``rng`` in that order)."""
        ek_m, seed_m = self.mlkem.generate(rng)
        pk_x, sk_x = self.x25519.generate(rng)
        return ek_m + pk_x, seed_m + sk_x

    def encapsulate(self, encapsulation_key: bytes, rng: Rng) -> Encapsulation:
        ek_m, pk_x = self._split_ek(encapsulation_key)
        inner = self.mlkem.encapsulate(ek_m, rng)
        ct_x, eph_x = self.x25519.generate(rng)
        ss_x = self.x25519.exchange(eph_x, pk_x)
        return Encapsulation(
            ciphertext=inner.ciphertext + ct_x,
            shared_secret=xwing_combiner(inner.shared_secret, ss_x, ct_x, pk_x),
        )

    def decapsulate(self, decapsulation_key: bytes, ciphertext: bytes) -> bytes:
        if len(decapsulation_key) != self.decapsulation_key_size:
            raise CryptoError(
                f"{self.name} decapsulation key must be {self.decapsulation_key_size} bytes "
                f"(ML-KEM seed || X25519 scalar), got {len(decapsulation_key)}"
            )
        if len(ciphertext) != self.ciphertext_size:
            raise CryptoError(
                f"{self.name} ciphertext must be {self.ciphertext_size} bytes, "
                f"got {len(ciphertext)}"
            )
        seed_m, sk_x = (
            decapsulation_key[: self.mlkem.seed_size],
            decapsulation_key[self.mlkem.seed_size :],
        )
        ct_m, ct_x = (
            ciphertext[: self.mlkem.ciphertext_size],
            ciphertext[self.mlkem.ciphertext_size :],
        )
        ss_m = self.mlkem.decapsulate(seed_m, ct_m)
        ss_x = self.x25519.exchange(sk_x, ct_x)
        pk_x = self.x25519.public_key(sk_x)
        return xwing_combiner(ss_m, ss_x, ct_x, pk_x)


X25519_MLKEM768 = HybridKem()
