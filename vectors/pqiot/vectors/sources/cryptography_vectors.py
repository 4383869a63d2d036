"""Locate and read files of the ``cryptography_vectors`` package.

The package is a test dependency (``pip install cryptography-vectors``); the
vectors are loaded from it at test time, never copied into this repository.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

from pqiot.vectors.sources.nist_rsp import parse_rsp

__all__ = ["VectorsNotInstalled", "read_lines", "rsp_records"]


class VectorsNotInstalled(RuntimeError):
    """``cryptography_vectors`` is missing."""


def read_lines(relative_path: str) -> list[str]:
    """Lines of ``cryptography_vectors/<relative_path>``."""
    try:
        root = resources.files("cryptography_vectors")
    except ModuleNotFoundError:
        raise VectorsNotInstalled(
            "the cryptography_vectors package is not installed; "
            "run: pip install 'cryptography-vectors>=50'"
        ) from None
    target = root.joinpath(*relative_path.split("/"))
    if not target.is_file():
        raise FileNotFoundError(
            f"cryptography_vectors has no file {relative_path!r} (wrong package version?)"
        )
    return target.read_text(encoding="utf-8").splitlines()


def rsp_records(relative_path: str) -> Iterator[dict[str, str]]:
    """Parse a ``.rsp``/``.txt`` key-value vector file of ``cryptography_vectors``."""
    return parse_rsp(read_lines(relative_path), source=f"cryptography_vectors/{relative_path}")
