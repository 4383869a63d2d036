"""Static figures of the firmware image: footprint metrics and the compiler that built it.

Shared by ``pqiot bench`` and the certification report (``pqiot certify``), so both
read the ELF the same way. A host build's sizes describe a native executable, not
a device, so host targets get the compiler but no footprint metrics.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pqiot.bench.report import metric

__all__ = ["ImageFigures", "image_figures"]


@dataclass
class ImageFigures:
    #: ``Footprint.to_json()`` of the image, None for host targets or no ELF
    footprint: dict[str, Any] | None = None
    compiler: str = "n/a (interpreted)"
    flags: str = "n/a"
    #: ``footprint``-group metrics in the bench schema
    metrics: list[dict[str, Any]] = field(default_factory=list)


def image_figures(
    image: Path | None, kind: str, handshake_metrics: list[dict[str, Any]]
) -> ImageFigures:
    """Footprint and compiler of ``image``; ``handshake_metrics`` add device-RAM figures."""
    out = ImageFigures()
    if image is None or not image.exists():
        out.compiler = f"CPython {sys.version.split()[0]}"
        return out
    from pqiot.bench.environment import compiler_of
    from pqiot.hil.footprint import elf_footprint

    try:
        fp = elf_footprint(image)
    except ValueError:
        return out
    out.compiler, out.flags = compiler_of(image)
    if kind == "host":
        return out
    out.footprint = fp.to_json()
    static_ram = fp.ram_bytes - fp.stack_reserved
    for name, value, note in (
        ("flash_bytes", fp.flash_bytes, "text + data"),
        ("static_ram_bytes", static_ram, "data + bss, without the reserved stack"),
        ("stack_reserved_bytes", fp.stack_reserved, "the .stack section (linker)"),
    ):
        out.metrics.append(
            metric(f"image {name}", "footprint", "bytes", [value], threshold=1.0, notes=[note])
        )
    for m in handshake_metrics:
        if m["group"] != "handshake" or not m["stack_bytes"]:
            continue
        out.metrics.append(
            metric(
                f"{m['name']} device RAM",
                "footprint",
                "bytes",
                [static_ram + m["stack_bytes"]],
                threshold=1.0,
                suite=m["suite"],
                role=m["role"],
                notes=["static RAM + peak painted stack of the handshake (test build)"],
            )
        )
    return out
