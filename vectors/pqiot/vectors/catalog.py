"""Every vector set pqiot knows, in the order ``pqiot vectors list`` shows them."""

from __future__ import annotations

from pathlib import Path

from pqiot.vectors.accumulated_sets import accumulated_sets
from pqiot.vectors.model import VectorSet
from pqiot.vectors.negative_primitives import negative_primitives_set
from pqiot.vectors.negative_protocol import negative_protocol_set
from pqiot.vectors.primitive_kats import primitive_sets
from pqiot.vectors.protocol_vectors import handshake_set
from pqiot.vectors.pubsub_vectors import pubsub_set

__all__ = ["DATA_DIR", "all_sets", "find_set"]

#: The committed vector files (package data).
DATA_DIR = Path(__file__).resolve().parent / "data"


def all_sets(data_dir: Path = DATA_DIR) -> list[VectorSet]:
    return [
        *primitive_sets(),
        *accumulated_sets(data_dir),
        negative_primitives_set(data_dir),
        negative_protocol_set(data_dir),
        handshake_set(data_dir),
        pubsub_set(data_dir),
    ]


def find_set(name: str, data_dir: Path = DATA_DIR) -> VectorSet:
    sets = {s.name: s for s in all_sets(data_dir)}
    if name not in sets:
        raise KeyError(f"no vector set {name!r}; `pqiot vectors list` shows: {', '.join(sets)}")
    return sets[name]
