"""The environment a figure was taken in: without it a number cannot be compared.

Recorded: target, clock (Hz, counter, wait states, cache), compiler and flags (from
the image's DWARF ``DW_AT_producer``, which GCC fills with its version and the
command-line switches), git revision of the checkout, Python and host machine.
"""

from __future__ import annotations

import collections
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["compiler_of", "git_revision", "host_environment"]


def git_revision(root: Path) -> str:
    """``git describe --always --dirty`` of ``root`` (read-only), or "unknown"."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def compiler_of(image: Path) -> tuple[str, str]:
    """(compiler, flags) of the most common compilation unit producer in ``image``.

    Falls back to the ``.comment`` section (compiler only) when there is no DWARF.
    """
    from elftools.elf.elffile import ELFFile

    with image.open("rb") as stream:
        elf = ELFFile(stream)
        producers: collections.Counter[str] = collections.Counter()
        if elf.has_dwarf_info():
            for unit in elf.get_dwarf_info().iter_CUs():
                attr = unit.get_top_DIE().attributes.get("DW_AT_producer")
                if attr is not None:
                    value = attr.value
                    producers[value.decode() if isinstance(value, bytes) else str(value)] += 1
        if producers:
            producer = producers.most_common(1)[0][0]
            words = producer.split(" -", 1)
            flags = "-" + words[1] if len(words) > 1 else ""
            return words[0], flags
        comment = elf.get_section_by_name(".comment")
        if comment is not None:
            return comment.data().split(b"\0")[0].decode(errors="replace"), "unknown"
    return "unknown", "unknown"


def host_environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "system": platform.platform(),
    }
