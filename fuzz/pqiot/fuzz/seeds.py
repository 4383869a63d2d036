"""Seed inputs: multi-payload input framing and the byte strings found in vector files.

Some harnesses drive a stateful object with several payloads per input (a
Session receiving message_1 then message_3). Such an input is a sequence of
``u16 big-endian length || payload`` chunks; a final chunk whose length runs
past the end takes the rest, so every byte string is a valid input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["join_payloads", "split_payloads", "vector_files", "vector_inputs"]

MAX_PAYLOADS = 16


def join_payloads(payloads: Iterable[bytes]) -> bytes:
    out = bytearray()
    for payload in payloads:
        if len(payload) > 0xFFFF:
            raise ValueError("a payload of a multi-payload input is at most 65535 bytes")
        out += len(payload).to_bytes(2, "big") + payload
    return bytes(out)


def split_payloads(data: bytes) -> list[bytes]:
    """Inverse of :func:`join_payloads`; at most :data:`MAX_PAYLOADS` payloads per input."""
    payloads: list[bytes] = []
    pos = 0
    while pos < len(data) and len(payloads) < MAX_PAYLOADS:
        if pos + 2 > len(data):
            payloads.append(data[pos:])
            break
        length = int.from_bytes(data[pos : pos + 2], "big")
        payloads.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return payloads


def vector_files(roots: Iterable[Path]) -> list[Path]:
    """Every ``*.json`` under ``roots`` (missing roots are skipped: vectors are optional)."""
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            files.extend(sorted(root.rglob("*.json")))
    return files


def _hex(value: str) -> bytes | None:
    text = value.replace(" ", "")
    if len(text) < 2 or len(text) % 2:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _walk(node: object, kind: str) -> Iterator[tuple[str, bytes]]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, kind)
        return
    if not isinstance(node, dict):
        return
    ident = node.get("id")
    here = ident.split("/", 1)[0].lower() if isinstance(ident, str) else kind
    for key, value in node.items():
        if isinstance(value, str) and key != "id":
            raw = _hex(value)
            if raw is not None:
                yield key.lower(), raw
                yield f"{here}.{key.lower()}", raw
        else:
            yield from _walk(value, here)


def vector_inputs(files: Iterable[Path], keys: frozenset[str]) -> list[bytes]:
    """Hex values stored under one of ``keys`` in the vector files.

    A key matches either the JSON field name (``message_1``) or ``<id prefix>.<field>``
    for records whose ``id`` says what they hold (``message_1/truncated-1`` with
    field ``message`` matches ``message_1.message``).
    """
    found: dict[bytes, None] = {}
    if not keys:
        return []
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for key, raw in _walk(document, ""):
            if key in keys:
                found.setdefault(raw, None)
    return list(found)
