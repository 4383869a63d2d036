"""Stack high-water mark read through a debug probe (the firmware paints, the host scans).

The firmware paints its free stack with 0xA5 before each measured command
(REQ-TAP-019); afterwards the lowest overwritten byte is the deepest the stack
reached. Reading the painted region through the probe gives the same figure
without trusting the firmware's own scan, which is what a board bench uses to
cross-check ``stack_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pqiot.hil.footprint import symbol_address
from pqiot.hil.gdb_remote import GdbRemote

__all__ = ["PAINT_BYTE", "StackRegion", "stack_high_water", "stack_region"]

PAINT_BYTE = 0xA5


@dataclass(frozen=True)
class StackRegion:
    limit: int  # lowest address of the stack region
    top: int  # initial stack pointer (one past the highest address)

    @property
    def size(self) -> int:
        return self.top - self.limit


def stack_region(
    elf: Path, limit_symbol: str = "_stack_limit", top_symbol: str = "_stack_top"
) -> StackRegion:
    return StackRegion(symbol_address(elf, limit_symbol), symbol_address(elf, top_symbol))


def untouched_bytes(memory: bytes, pattern: int = PAINT_BYTE) -> int:
    """Length of the run of paint bytes at the low end of the region."""
    count = 0
    for byte in memory:
        if byte != pattern:
            break
        count += 1
    return count


def stack_high_water(gdb: GdbRemote, region: StackRegion) -> int:
    """Bytes between the top of the stack and the deepest overwritten byte (target halted)."""
    memory = gdb.read_memory(region.limit, region.size)
    return region.size - untouched_bytes(memory)
