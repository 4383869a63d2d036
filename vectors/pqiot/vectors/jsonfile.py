"""The committed vector files: deterministic JSON writing and defensive reading.

Files are written with sorted keys, two-space indentation and a trailing
newline so that ``pqiot vectors generate`` reproduces them byte for byte.
Reading never trusts a file: every field access goes through
:class:`RecordView`, which names the file and record number on any problem
(missing field, bad hex, wrong length) so a broken file is reported, not
crashed on, and never counted as a pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "RecordView",
    "VectorFile",
    "VectorFileError",
    "dumps",
    "generator_name",
    "load_vector_file",
    "vector_document",
]

#: Version of the file layout described in vectors/README.md; bump on any incompatible change.
SCHEMA_VERSION = 2


class VectorFileError(ValueError):
    """A vector file or one of its records is malformed; the message says where."""


def generator_name() -> str:
    """``"pqiot <version> generator"``: recorded in every generated file."""
    try:
        version = metadata.version("pqiot")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"pqiot {version} generator"


def dumps(document: Any) -> str:
    """Deterministic JSON text: sorted keys, 2-space indent, ASCII only, trailing newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


class RecordView:
    """Typed, located access to one record (a JSON object) of a vector file."""

    def __init__(self, data: Any, file: str, index: int, path: str = "") -> None:
        self._data = data
        self.file = file
        self.index = index
        self._path = path

    def error(self, message: str) -> VectorFileError:
        where = f"{self.file}: record {self.index}"
        if self._path:
            where += f" ({self._path})"
        return VectorFileError(f"{where}: {message}")

    @property
    def raw(self) -> Any:
        return self._data

    def _get(self, key: str) -> Any:
        if not isinstance(self._data, dict):
            raise self.error(f"expected an object, found {type(self._data).__name__}")
        if key not in self._data:
            raise self.error(f"missing field {self._join(key)!r}")
        return self._data[key]

    def _join(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def has(self, key: str) -> bool:
        return isinstance(self._data, dict) and key in self._data

    def sub(self, key: str) -> RecordView:
        value = self._get(key)
        if not isinstance(value, dict):
            raise self.error(f"field {self._join(key)!r} must be an object")
        return RecordView(value, self.file, self.index, self._join(key))

    def items(self, key: str) -> list[RecordView]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self.error(f"field {self._join(key)!r} must be a list")
        return [
            RecordView(item, self.file, self.index, f"{self._join(key)}[{i}]")
            for i, item in enumerate(value)
        ]

    def field_names(self) -> list[str]:
        if not isinstance(self._data, dict):
            raise self.error("expected an object")
        return sorted(self._data)

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self.error(f"field {self._join(key)!r} must be a string")
        return value

    def integer(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"field {self._join(key)!r} must be an integer")
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self.error(f"field {self._join(key)!r} must be true or false")
        return value

    def hex(self, key: str, length: int | None = None) -> bytes:
        """Decode a hex field; ``length`` (bytes) is checked when given."""
        value = self.text(key)
        try:
            decoded = bytes.fromhex(value)
        except ValueError:
            raise self.error(f"field {self._join(key)!r} is not valid hex") from None
        if length is not None and len(decoded) != length:
            raise self.error(
                f"field {self._join(key)!r} must be {length} bytes, found {len(decoded)}"
            )
        return decoded

    def hex_list(self, key: str) -> list[bytes]:
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(f"field {self._join(key)!r} must be a list of hex strings")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(bytes.fromhex(item))
            except ValueError:
                raise self.error(f"field {self._join(key)}[{i}] is not valid hex") from None
        return out

    def hex_map(self, key: str) -> dict[str, bytes]:
        value = self.sub(key)
        return {name: value.hex(name) for name in value.field_names()}


@dataclass(frozen=True)
class VectorFile:
    """A parsed vector file: header fields plus its raw records."""

    path: str
    set_name: str
    source: str
    generator: str
    records: tuple[Any, ...]

    def views(self) -> Iterator[RecordView]:
        for index, record in enumerate(self.records):
            yield RecordView(record, self.path, index)


def load_vector_file(path: Path | str, expected_set: str | None = None) -> VectorFile:
    """Read and check the header of one vector file; records are checked when used."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise VectorFileError(f"{name}: cannot read the file ({exc.strerror})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VectorFileError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(document, dict):
        raise VectorFileError(f"{name}: the top level must be a JSON object")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise VectorFileError(
            f"{name}: schema_version {version!r} is not supported (this pqiot reads "
            f"{SCHEMA_VERSION}); regenerate with `pqiot vectors generate`"
        )
    for key in ("set", "source", "generator"):
        if not isinstance(document.get(key), str):
            raise VectorFileError(f"{name}: header field {key!r} is missing or not a string")
    if expected_set is not None and document["set"] != expected_set:
        raise VectorFileError(f"{name}: holds set {document['set']!r}, expected {expected_set!r}")
    records = document.get("records")
    if not isinstance(records, list):
        raise VectorFileError(f"{name}: field 'records' is missing or not a list")
    return VectorFile(
        name, document["set"], document["source"], document["generator"], tuple(records)
    )


def vector_document(set_name: str, description: str, records: list[Any]) -> dict[str, Any]:
    """The full document of a generated file (header + records)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "set": set_name,
        "description": description,
        "source": generator_name(),
        "generator": generator_name(),
        "records": records,
    }
