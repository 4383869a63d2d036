"""The ML-DSA signing message set: fixed, and wide enough to show the rejection loop.

ML-DSA.Sign repeats its loop a data-dependent number of times (FIPS 204 Table 1:
expected 4.25 / 5.1 / 3.85 iterations for ML-DSA-44 / 65 / 87, geometric
distribution), so one message gives one arbitrary point of that distribution. We
sign ``count`` 32-byte messages read from one SHAKE128 stream (the same construction
as the §13.7 accumulated vectors) with one fixed key and ``rnd`` = 32 zero bytes
(the deterministic variant): the same messages give the same iteration counts on
every target and every night, so the distributions are comparable, and 64 messages
bring the mean within roughly +-12 % of the expected value (one standard error of a
geometric mean with p = 1/4.25).
"""

from __future__ import annotations

from pqiot.reference.crypto.rng import ShakeRng

__all__ = ["DEFAULT_SIGN_MESSAGES", "MESSAGE_STREAM_SEED", "signing_key_seed", "signing_messages"]

DEFAULT_SIGN_MESSAGES = 64
MESSAGE_STREAM_SEED = b"pqiot-bench ML-DSA messages v1"


def signing_messages(count: int = DEFAULT_SIGN_MESSAGES) -> list[bytes]:
    """``count`` 32-byte messages, read sequentially from SHAKE128(MESSAGE_STREAM_SEED)."""
    stream = ShakeRng(MESSAGE_STREAM_SEED)
    stream(32)  # the first block is the key seed
    return [stream(32) for _ in range(count)]


def signing_key_seed() -> bytes:
    """xi of the signing key: the first 32 bytes of the same stream."""
    return ShakeRng(MESSAGE_STREAM_SEED)(32)
