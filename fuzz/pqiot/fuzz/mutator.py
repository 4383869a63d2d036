"""Structure-aware mutation of CBOR items and sequences (libFuzzer custom mutator).

Byte-level mutations of a 3.5 kB message_2 almost always break the CBOR head
or the length of the one big byte string, so the fuzzer keeps re-testing the
first few checks of the decoder. Editing the *decoded* items — drop, repeat or
swap sequence items, put a boundary integer or a suite id where an int was,
make a byte string one byte shorter or exactly the length of a G_X — and
re-encoding them keeps the input well-formed CBOR and reaches the checks that
come after decoding (REQ-ENC-009/010, the EDHOC field rules, trust decisions).

Half of the calls still go to the byte-level mutator, which is what finds
non-canonical heads and truncations.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.errors import DecodeError

__all__ = ["ByteMutator", "mutate_cbor"]

ByteMutator = Callable[[bytes, int], bytes]

_BOUNDARY_INTS = (
    0, 1, 23, 24, 255, 256, 65535, 65536, 2**32, 2**64 - 1,
    -1, -24, -25, -256, -257, -(2**64),
    4, 3, 2, 14,
    -101, -102, -103, -104, -110, -48, -49, -50, -65601,
)  # fmt: skip
_SPEC_LENGTHS = (0, 1, 16, 32, 64, 800, 1088, 1184, 1312, 1568, 2420)


def _nodes(value: CborValue, out: list[tuple[object, object]], parent: object, key: object) -> None:
    out.append((parent, key))
    if isinstance(value, list):
        for index, item in enumerate(value):
            _nodes(item, out, value, index)
    elif isinstance(value, dict):
        for map_key, item in value.items():
            _nodes(item, out, value, map_key)


def _mutate_scalar(value: CborValue, rng: random.Random) -> CborValue:
    if isinstance(value, bool) or value is None:
        return rng.choice([True, False, None, 0, b""])
    if isinstance(value, int):
        choice = rng.random()
        if choice < 0.6:
            return rng.choice(_BOUNDARY_INTS)
        if choice < 0.8:
            return value + rng.choice((-1, 1))
        return b"" if rng.random() < 0.5 else [value]
    if isinstance(value, bytes):
        choice = rng.random()
        if choice < 0.25 and value:
            return value[: rng.randrange(len(value))]
        if choice < 0.45:
            return value + bytes([rng.randrange(256)])
        if choice < 0.65:
            size = rng.choice(_SPEC_LENGTHS)
            return (value * (size // max(1, len(value)) + 1))[:size] if value else bytes(size)
        if choice < 0.85 and value:
            index = rng.randrange(len(value))
            return (
                value[:index] + bytes([value[index] ^ (1 << rng.randrange(8))]) + value[index + 1 :]
            )
        others: list[CborValue] = [0, "", [value]]
        return rng.choice(others)
    if isinstance(value, str):
        texts: list[CborValue] = ["", value + "x", value[:-1], "decode_error", value.encode()]
        return rng.choice(texts)
    if isinstance(value, list):
        edited = list(value)
        if edited and rng.random() < 0.4:
            del edited[rng.randrange(len(edited))]
        elif edited and rng.random() < 0.5:
            edited.insert(rng.randrange(len(edited) + 1), rng.choice(edited))
        else:
            edited.append(rng.choice(_BOUNDARY_INTS))
        return edited
    if isinstance(value, dict):
        edited_map = dict(value)
        if edited_map and rng.random() < 0.5:
            del edited_map[rng.choice(list(edited_map))]
        else:
            edited_map[rng.choice(_BOUNDARY_INTS)] = rng.choice([b"", 0, True])
        return edited_map
    return value


def _mutate_sequence(items: list[CborValue], rng: random.Random) -> list[CborValue]:
    choice = rng.random()
    if choice < 0.15 and items:
        del items[rng.randrange(len(items))]
        return items
    if choice < 0.25 and items:
        items.insert(rng.randrange(len(items) + 1), rng.choice(items))
        return items
    if choice < 0.32 and len(items) >= 2:
        i, j = rng.sample(range(len(items)), 2)
        items[i], items[j] = items[j], items[i]
        return items
    if choice < 0.37:
        items.append(rng.choice([*_BOUNDARY_INTS, b"", b"\x00" * 16, True]))
        return items
    nodes: list[tuple[object, object]] = []
    for index, item in enumerate(items):
        _nodes(item, nodes, items, index)
    if not nodes:
        return [rng.choice(_BOUNDARY_INTS)]
    parent, key = rng.choice(nodes)
    # Two branches so that the type checker narrows parent and key in each.
    if isinstance(parent, list) and isinstance(key, int):  # noqa: SIM114
        parent[key] = _mutate_scalar(parent[key], rng)
    elif isinstance(parent, dict):
        parent[key] = _mutate_scalar(parent[key], rng)
    return items


def mutate_cbor(data: bytes, max_size: int, seed: int, byte_mutator: ByteMutator) -> bytes:
    """One mutation of ``data``: structural when it decodes as a CBOR sequence, else byte-level."""
    rng = random.Random(seed)
    if rng.random() < 0.5:
        return byte_mutator(data, max_size)
    try:
        items = cbor.decode_sequence(data, max_items=64)
    except DecodeError:
        return byte_mutator(data, max_size)
    try:
        mutated = cbor.encode_sequence(*_mutate_sequence(items, rng))
    except (ValueError, TypeError):  # e.g. a duplicate map key after an edit
        return byte_mutator(data, max_size)
    if len(mutated) > max_size or mutated == data:
        return byte_mutator(data, max_size)
    return mutated


def custom_mutator(
    structure: str, byte_mutator: ByteMutator
) -> Callable[[bytes, int, int], bytes] | None:
    """The libFuzzer ``custom_mutator`` for a harness's input structure (None: libFuzzer's own)."""
    if structure != "cbor":
        return None

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        return mutate_cbor(data, max_size, seed, byte_mutator)

    return mutate
