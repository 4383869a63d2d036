"""``pqiot targets check``: bring a target up, check it, report identity, statement, footprint.

One function so the CLI, the board farm and tests produce the same report.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pqiot.hil.client import AgentClient
from pqiot.hil.conformance import ConformanceStatement
from pqiot.hil.runner import TargetRunner, _jsonable
from pqiot.hil.target_schema import TargetDescription

__all__ = ["check_target", "footprint_report", "probe_stack_report"]


def footprint_report(runner: TargetRunner) -> dict[str, Any] | None:
    """Per-section flash/RAM of the target's ELF image, or None when it has none."""
    from pqiot.hil.footprint import elf_footprint

    image = runner.image_path()
    if image is None or not image.exists():
        return None
    try:
        return elf_footprint(image).to_json()
    except ValueError:
        return None


def probe_stack_report(runner: TargetRunner, client: AgentClient) -> dict[str, Any]:
    """Run one ML-KEM-768 keygen, then read the painted stack through the probe.

    Returns the probe's high-water mark next to the agent's own ``stack_bytes``.
    """
    from pqiot.hil.stack_probe import stack_high_water, stack_region

    image = runner.image_path()
    assert image is not None and runner.gdb is not None
    region = stack_region(image)
    client.mlkem_keygen(768, os.urandom(32), os.urandom(32))
    agent = client.measure()
    runner.gdb.interrupt()
    try:
        high_water = stack_high_water(runner.gdb, region)
    finally:
        runner.gdb.cont()
    return {
        "command": "MLKEM_KEYGEN ml-kem-768",
        "agent_stack_bytes": agent.stack_bytes,
        "probe_high_water_bytes": high_water,
        "stack_region": {"limit": region.limit, "top": region.top},
    }


def check_target(description: TargetDescription, *, use_probe: bool = False) -> dict[str, Any]:
    """The full report; ``healthy`` is True only when every check passed."""
    runner = TargetRunner(description, use_probe=use_probe)
    started = time.monotonic()
    runner.up()
    client = runner.client()
    try:
        up_s = time.monotonic() - started
        health = runner.health_check(client)
        statement = ConformanceStatement.from_identity(health.identity)
        measure = health.identity.get("measure")
        source = str(measure.get("cycles")) if isinstance(measure, dict) else "none"
        unit = {
            "dwt": "cycles",
            "systick": "cycles",
            "qemu-icount": "instruction_proxy",
            "host-ns": "wall_clock_ns",
        }.get(source, "none")
        report: dict[str, Any] = {
            **health.to_json(),
            "up_s": round(up_s, 3),
            "description": description.to_json(),
            "conformance": statement.to_json(),
            "measure_unit": unit,
            "footprint": footprint_report(runner),
            "stack_high_water_bytes": None,
        }
        if use_probe and runner.gdb is not None and health.healthy:
            stack = probe_stack_report(runner, client)
            report["probe_stack"] = stack
            report["stack_high_water_bytes"] = stack["probe_high_water_bytes"]
        converted: dict[str, Any] = _jsonable(report)
        return converted
    finally:
        client.close()
        runner.down()
