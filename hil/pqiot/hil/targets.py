"""The target registry: every ``targets/*.toml`` by name, and the entry points other portions use.

``open_primitive_agent(name)`` is the contract of :mod:`pqiot.vectors.targets`:
a context manager yielding a :class:`~pqiot.vectors.agent.PrimitiveAgent` that
speaks TAP to the named target, brought up before and torn down after
(``--target`` of ``pqiot vectors verify`` / ``accumulated``). Unknown names
raise ``KeyError`` with the known ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from pqiot.hil.client import AgentClient
from pqiot.hil.primitive_adapter import TapPrimitiveAgent
from pqiot.hil.runner import TargetRunner, repo_root
from pqiot.hil.target_schema import TargetDescription, TargetError, load_description

__all__ = [
    "load_targets",
    "open_client",
    "open_primitive_agent",
    "target",
    "targets_dir",
]


def targets_dir() -> Path:
    """``targets/`` of the checkout; PQIOT_TARGETS overrides it (farm configurations)."""
    override = os.environ.get("PQIOT_TARGETS")
    return Path(override) if override else repo_root() / "targets"


def load_targets(directory: Path | None = None) -> dict[str, TargetDescription]:
    """All descriptions in ``directory``; one TargetError lists every invalid file."""
    folder = directory or targets_dir()
    if not folder.is_dir():
        raise TargetError(
            f"{folder}: no targets directory; set PQIOT_TARGETS or run from a checkout"
        )
    found: dict[str, TargetDescription] = {}
    errors: list[str] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            description = load_description(path)
        except TargetError as exc:
            errors.append(str(exc))
            continue
        found[description.name] = description
    if errors:
        raise TargetError("\n".join(errors))
    return found


def target(name: str, directory: Path | None = None) -> TargetDescription:
    targets = load_targets(directory)
    if name not in targets:
        raise KeyError(f"no target named {name!r}; known targets: {', '.join(sorted(targets))}")
    return targets[name]


@contextmanager
def open_client(
    name: str, *, use_probe: bool = False
) -> Iterator[tuple[TargetRunner, AgentClient]]:
    """Bring target ``name`` up, yield its runner and typed client, always tear it down."""
    runner = TargetRunner(target(name), use_probe=use_probe)
    runner.up()
    client = runner.client()
    try:
        yield runner, client
    finally:
        client.close()
        runner.down()


def open_primitive_agent(name: str) -> AbstractContextManager[TapPrimitiveAgent]:
    """PrimitiveAgent for ``name`` (the contract of ``pqiot.vectors.targets``).

    The name is looked up now, so an unknown target raises ``KeyError`` at the call,
    before anything is started.
    """
    target(name)
    return _primitive_agent(name)


@contextmanager
def _primitive_agent(name: str) -> Iterator[TapPrimitiveAgent]:
    with open_client(name) as (_runner, client):
        yield TapPrimitiveAgent(client, name)
