"""Write every generated vector file: ``pqiot vectors generate --out DIR``.

Output is deterministic (fixed seeds, :func:`~pqiot.vectors.jsonfile.dumps`), so
running this into ``vectors/pqiot/vectors/data`` reproduces the committed files
byte for byte. Falcon-1024 key generation (pure Python) makes a full run take a
few minutes; each Falcon key pair is generated once per process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from pqiot.reference import suites as suite_registry
from pqiot.vectors.accumulated_sets import ACCUMULATED_FILE, generate_accumulated
from pqiot.vectors.jsonfile import dumps
from pqiot.vectors.negative_primitives import NEGATIVE_PRIMITIVES_FILE, generate_negative_primitives
from pqiot.vectors.negative_protocol import NEGATIVE_PROTOCOL_FILE, generate_negative_protocol
from pqiot.vectors.protocol_vectors import generate_handshake_file, handshake_file_name
from pqiot.vectors.pubsub_vectors import PUBSUB_FILE, generate_pubsub

__all__ = ["generated_files", "write_files"]


def generated_files() -> dict[str, Callable[[], dict[str, Any]]]:
    """Relative path -> function building that file's document (cheap ones first)."""
    files: dict[str, Callable[[], dict[str, Any]]] = {
        NEGATIVE_PROTOCOL_FILE: generate_negative_protocol,
        NEGATIVE_PRIMITIVES_FILE: generate_negative_primitives,
        PUBSUB_FILE: generate_pubsub,
    }
    for suite in suite_registry.all_suites():
        files[handshake_file_name(suite.id)] = partial(generate_handshake_file, suite.id)
    files[ACCUMULATED_FILE] = generate_accumulated
    return files


def write_files(
    out: Path, names: Iterable[str] | None = None, on_file: Callable[[str], None] | None = None
) -> list[Path]:
    """Generate ``names`` (default: all) under ``out``; return the written paths."""
    builders = generated_files()
    selected = list(builders) if names is None else list(names)
    unknown = [n for n in selected if n not in builders]
    if unknown:
        raise KeyError(f"unknown vector file(s) {unknown}; known: {', '.join(builders)}")
    written = []
    for name in selected:
        document = builders[name]()
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(document), encoding="utf-8")
        written.append(path)
        if on_file is not None:
            on_file(name)
    return written
