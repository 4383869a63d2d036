"""A small libFuzzer-style byte mutator for fuzzing outside libFuzzer (live devices).

Live-device fuzzing runs in the harness process, not under Atheris, so
``atheris.Mutate`` is not available. These are the classic byte-level edits —
bit flips, interesting values, inserts, deletes, chunk copies, truncation and
dictionary tokens — driven by one ``random.Random`` so a campaign with the same
seed sends the same inputs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

__all__ = ["make_byte_mutator", "mutate_bytes"]

_INTERESTING_8 = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x17, 0x18, 0x1F, 0x40, 0x5F, 0xA0, 0xF6)
_INTERESTING_16 = (0x0000, 0x0001, 0x00FF, 0x0100, 0x7FFF, 0x8000, 0xFFFF, 0x0400, 0x1000)


def _flip(data: bytearray, rng: random.Random, _tokens: Sequence[bytes]) -> None:
    if data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _interesting(data: bytearray, rng: random.Random, _tokens: Sequence[bytes]) -> None:
    if not data:
        return
    index = rng.randrange(len(data))
    if rng.random() < 0.6 or index + 2 > len(data):
        data[index] = rng.choice(_INTERESTING_8)
    else:
        data[index : index + 2] = rng.choice(_INTERESTING_16).to_bytes(2, "big")


def _insert(data: bytearray, rng: random.Random, _tokens: Sequence[bytes]) -> None:
    index = rng.randrange(len(data) + 1)
    data[index:index] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))


def _delete(data: bytearray, rng: random.Random, _tokens: Sequence[bytes]) -> None:
    if data:
        start = rng.randrange(len(data))
        del data[start : start + rng.randint(1, max(1, min(64, len(data) - start)))]


def _copy_chunk(data: bytearray, rng: random.Random, _tokens: Sequence[bytes]) -> None:
    if data:
        start = rng.randrange(len(data))
        chunk = data[start : start + rng.randint(1, 128)]
        index = rng.randrange(len(data) + 1)
        data[index:index] = chunk


def _truncate(data: bytearray, rng: random.Random, _tokens: Sequence[bytes]) -> None:
    if data:
        del data[rng.randrange(len(data)) :]


def _token(data: bytearray, rng: random.Random, tokens: Sequence[bytes]) -> None:
    if not tokens:
        return _interesting(data, rng, tokens)
    token = rng.choice(tokens)
    index = rng.randrange(len(data) + 1)
    if rng.random() < 0.5:
        data[index:index] = token
    else:
        data[index : index + len(token)] = token
    return None


_OPERATIONS: tuple[Callable[[bytearray, random.Random, Sequence[bytes]], None], ...] = (
    _flip, _flip, _interesting, _interesting, _insert, _delete, _copy_chunk, _truncate,
    _token, _token,
)  # fmt: skip


def mutate_bytes(
    data: bytes, max_size: int, rng: random.Random, tokens: Sequence[bytes] = ()
) -> bytes:
    """One to four stacked byte-level edits of ``data``, at most ``max_size`` bytes long."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        rng.choice(_OPERATIONS)(out, rng, tokens)
    if out == data and out:
        out[rng.randrange(len(out))] ^= 0xFF
    return bytes(out[:max_size])


def make_byte_mutator(
    rng: random.Random, tokens: Sequence[bytes] = ()
) -> Callable[[bytes, int], bytes]:
    """The ``(data, max_size) -> bytes`` callable :func:`pqiot.fuzz.mutator.mutate_cbor` takes."""
    return lambda data, max_size: mutate_bytes(data, max_size, rng, tokens)
