"""`generate` reproduces the committed files byte for byte (a fast subset here, all when slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pqiot.vectors.catalog import DATA_DIR
from pqiot.vectors.generate import generated_files, write_files

#: Files that need no Falcon key generation and no long accumulated runs.
FAST = [
    "negative-protocol.json",
    "handshakes/suite0.json",
    "handshakes/suite2.json",
    "handshakes/suite-102.json",
    "handshakes/suite-106.json",
    "handshakes/suite-107.json",
]


@pytest.mark.parametrize("name", FAST)
def test_fast_files_regenerate_byte_for_byte(tmp_path: Path, name: str) -> None:
    (path,) = write_files(tmp_path, [name])
    assert path.read_bytes() == (DATA_DIR / name).read_bytes()


@pytest.mark.slow
def test_every_file_regenerates_byte_for_byte(tmp_path: Path) -> None:
    written = write_files(tmp_path)
    assert len(written) == len(generated_files())
    differing = [
        path.relative_to(tmp_path).as_posix()
        for path in written
        if path.read_bytes() != (DATA_DIR / path.relative_to(tmp_path)).read_bytes()
    ]
    assert differing == []


def test_every_committed_file_has_a_generator() -> None:
    committed = {p.relative_to(DATA_DIR).as_posix() for p in DATA_DIR.rglob("*.json")}
    assert committed == set(generated_files())
