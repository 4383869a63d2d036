"""Static flash and RAM of an ELF image, per section, as ``arm-none-eabi-size`` counts them.

TAP does not report static memory (§13.6): the host reads it from the image.
Berkeley rules: allocated read-only sections are *text*, allocated writable
sections with contents are *data*, allocated sections without contents are
*bss*; flash = text + data (data is copied from flash at boot), RAM = data + bss.
A reserved stack section (``.stack``) is counted in bss and also reported on
its own, because it is a linker setting rather than code size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Footprint", "SectionSize", "elf_footprint", "symbol_address", "symbol_range"]

_SHF_WRITE = 0x1
_SHF_ALLOC = 0x2


@dataclass(frozen=True)
class SectionSize:
    name: str
    address: int
    size: int
    category: str  # "text", "data" or "bss"


@dataclass(frozen=True)
class Footprint:
    image: str
    machine: str
    sections: tuple[SectionSize, ...]

    def _sum(self, category: str) -> int:
        return sum(s.size for s in self.sections if s.category == category)

    @property
    def text(self) -> int:
        return self._sum("text")

    @property
    def data(self) -> int:
        return self._sum("data")

    @property
    def bss(self) -> int:
        return self._sum("bss")

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss

    @property
    def stack_reserved(self) -> int:
        return sum(s.size for s in self.sections if s.name == ".stack")

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "machine": self.machine,
            "text": self.text,
            "data": self.data,
            "bss": self.bss,
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "stack_reserved": self.stack_reserved,
            "sections": [vars(s) for s in self.sections],
        }


def _open(path: Path) -> Any:
    try:
        from elftools.elf.elffile import ELFFile
    except ImportError as exc:  # pragma: no cover
        raise RuntimeError("pyelftools is not installed: pip install pyelftools") from exc
    return ELFFile


def elf_footprint(path: Path) -> Footprint:
    """Section sizes of ``path``; raise ValueError if it is not an ELF file."""
    from elftools.common.exceptions import ELFError

    elf_file = _open(path)
    with path.open("rb") as stream:
        try:
            elf = elf_file(stream)
        except ELFError as exc:
            raise ValueError(f"{path} is not an ELF image: {exc}") from None
        sections = []
        for section in elf.iter_sections():
            flags = section["sh_flags"]
            if not flags & _SHF_ALLOC or section["sh_size"] == 0:
                continue
            if section["sh_type"] == "SHT_NOBITS":
                category = "bss"
            elif flags & _SHF_WRITE:
                category = "data"
            else:
                category = "text"
            sections.append(
                SectionSize(section.name, section["sh_addr"], section["sh_size"], category)
            )
        return Footprint(str(path), elf["e_machine"], tuple(sections))


def symbol_range(path: Path, name: str) -> tuple[int, int]:
    """(address, size) of symbol ``name`` from the ELF symbol table; KeyError if absent."""
    from elftools.elf.sections import SymbolTableSection

    elf_file = _open(path)
    with path.open("rb") as stream:
        elf = elf_file(stream)
        for section in elf.iter_sections():
            if isinstance(section, SymbolTableSection):
                for symbol in section.get_symbol_by_name(name) or []:
                    return int(symbol["st_value"]), int(symbol["st_size"])
    raise KeyError(f"symbol {name!r} is not in {path} (stripped image?)")


def symbol_address(path: Path, name: str) -> int:
    return symbol_range(path, name)[0]
