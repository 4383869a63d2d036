"""One measured operation over TAP: run it, read MEASURE, keep the figure in its own unit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pqiot.hil.client import AgentClient, Measurement

__all__ = ["OpSamples", "measured", "proxy_value"]


@dataclass
class OpSamples:
    """Every sample of one operation, in ``unit`` (never converted between units)."""

    name: str
    group: str
    unit: str = ""
    values: list[int] = field(default_factory=list)
    stacks: list[int] = field(default_factory=list)
    overflow: bool = False
    suite: int | None = None
    role: str | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, value: int, unit: str, stack: int | None, overflow: bool = False) -> None:
        if self.unit and unit != self.unit:
            raise ValueError(f"{self.name}: unit changed from {self.unit} to {unit}")
        self.unit = unit
        self.values.append(value)
        if stack is not None:
            self.stacks.append(stack)
        self.overflow |= overflow


def proxy_value(m: Measurement) -> int:
    """The figure of one MEASURE in the unit ``m.unit`` names.

    QEMU reports SysTick counts; under ``-icount shift=0`` one guest instruction is
    1 ns of virtual time, so counts x (1e9 / clock_hz) is the number of executed
    instructions: the instruction proxy. Other sources are already in their unit.
    """
    if m.cycle_source == "qemu-icount":
        return m.cycles * (10**9 // m.clock_hz)
    return m.cycles


def measured(client: AgentClient, command: int, run: Callable[[], object]) -> Measurement:
    """Run ``run`` (one TAP command ``command``) and return its MEASURE."""
    run()
    m = client.measure()
    if m.cmd != command:
        raise RuntimeError(f"MEASURE reports command {m.cmd}, expected {command}")
    return m
