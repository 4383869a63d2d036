"""G_X / G_Y / G_XY for both kinds of suites (RFC 9528 §5.2-5.3, draft-spm-lake-pqsuites).

Classical suites: G_X, G_Y are ephemeral DH public keys, G_XY = DH(x, G_Y).
KEM suites: G_X is an encapsulation key, G_Y = Encaps(G_X) ciphertext and
G_XY the shared secret. Classical suites keep the raw DH group (not the
DH-as-KEM wrapper) because the static-DH method needs the responder's
ephemeral secret y again for G_IY.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pqiot.reference.crypto.interfaces import Rng
from pqiot.reference.errors import CryptoError, DecodeError
from pqiot.reference.suites import CipherSuite

__all__ = [
    "ResponderKeyShare",
    "g_x_length",
    "g_y_length",
    "initiator_key_share",
    "initiator_shared_secret",
]


def g_x_length(suite: CipherSuite) -> int:
    return suite.kem().encapsulation_key_size if suite.is_kem else suite.dh().public_key_size


def g_y_length(suite: CipherSuite) -> int:
    return suite.kem().ciphertext_size if suite.is_kem else suite.dh().public_key_size


def initiator_key_share(suite: CipherSuite, rng: Rng) -> tuple[bytes, bytes]:
    """(G_X, secret): an ML-KEM/hybrid key pair, or an ephemeral DH key pair."""
    if suite.is_kem:
        return suite.kem().generate(rng)
    return suite.dh().generate(rng)


@dataclass(frozen=True)
class ResponderKeyShare:
    g_y: bytes
    g_xy: bytes = field(repr=False)
    dh_secret: bytes | None = field(repr=False, default=None)  # y, classical suites only


def responder_key_share(suite: CipherSuite, g_x: bytes, rng: Rng) -> ResponderKeyShare:
    """Encapsulate to G_X (KEM) or make y and compute DH(y, G_X); a bad G_X is a decode_error."""
    try:
        if suite.is_kem:
            encapsulation = suite.kem().encapsulate(g_x, rng)
            return ResponderKeyShare(encapsulation.ciphertext, encapsulation.shared_secret)
        group = suite.dh()
        g_y, y = group.generate(rng)
        return ResponderKeyShare(g_y, group.exchange(y, g_x), y)
    except CryptoError as exc:
        raise DecodeError(f"G_X is not a valid key for suite {suite.id}: {exc}") from exc


def initiator_shared_secret(suite: CipherSuite, secret: bytes, g_y: bytes) -> bytes:
    try:
        if suite.is_kem:
            return suite.kem().decapsulate(secret, g_y)
        return suite.dh().exchange(secret, g_y)
    except CryptoError as exc:
        raise DecodeError(f"G_Y is not valid for suite {suite.id}: {exc}") from exc


def ephemeral_static_dh(suite: CipherSuite, ephemeral_secret: bytes, static_public: bytes) -> bytes:
    """G_RX = DH(x, G_R) or G_IY = DH(y, G_I) for the static-DH method."""
    try:
        return suite.dh().exchange(ephemeral_secret, static_public)
    except CryptoError as exc:
        raise DecodeError(f"peer static DH key is not valid for suite {suite.id}: {exc}") from exc
