"""The device under test as the conformance tests see it: a TAP agent behind a typed client.

Tests never know how the device is reached. :func:`open_device` gives a
:class:`Device` whose ``client`` is the HIL harness's
:class:`~pqiot.hil.client.AgentClient` in every case:

- ``in-process``: the Python reference's Test Agent
  (:class:`~pqiot.reference.tap.agent.ReferenceTestAgent`, which drives the
  production :class:`~pqiot.reference.session.Session`) behind an in-memory
  channel — fast, no sockets, used for ``host-ref`` by default;
- ``tap``: a target of ``targets/*.toml`` brought up by the harness
  (:func:`pqiot.hil.targets.open_client`), over TCP or serial.

Because both paths share the client, a test written against one runs unchanged
on the other: the transport is the only difference.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pqiot.conformance.applicability import Statement
from pqiot.hil.agent_client import ByteLink, TapClient, TapResponse
from pqiot.hil.client import AgentClient
from pqiot.reference.cbor import CborValue
from pqiot.reference.tap.agent import ReferenceTestAgent

__all__ = [
    "IN_PROCESS_TARGETS",
    "Device",
    "DeviceUnavailable",
    "InMemoryChannel",
    "open_device",
]

#: Targets that can run without the harness: the reference agent in this process.
IN_PROCESS_TARGETS = ("host-ref",)


class DeviceUnavailable(RuntimeError):
    """The target cannot be reached; the message says what is missing and what to do."""


class _MessageOnlyLink:
    """The byte link of an in-memory channel: there are no bytes, only whole messages."""

    def send(self, data: bytes) -> None:
        raise OSError("the in-process agent takes whole TAP messages, not raw bytes")

    def receive(self, timeout: float) -> bytes:
        raise OSError("the in-process agent answers whole TAP messages, not raw bytes")

    def close(self) -> None:
        return None


class InMemoryChannel:
    """A TAP message channel straight into a :class:`ReferenceTestAgent` (no I/O)."""

    def __init__(self, agent: ReferenceTestAgent) -> None:
        self.agent = agent
        self.link: ByteLink = _MessageOnlyLink()
        self._pending: list[bytes] = []

    def send_message(self, message: bytes) -> None:
        self._pending.append(self.agent.handle(message))

    def receive_message(self, deadline: float) -> bytes | None:
        return self._pending.pop(0) if self._pending else None


@dataclass
class Device:
    """One reachable device: its name, how it is reached, its IDENTIFY result and client."""

    name: str
    mode: str  # "in-process" or "tap"
    client: AgentClient
    identity: dict[str, CborValue]
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def statement(self) -> Statement:
        return Statement.from_mapping(dict(self.identity))

    def declares(self, key: str, value: object) -> bool:
        items = self.identity.get(key)
        return isinstance(items, list) and value in items

    def limit(self, key: str, default: int) -> int:
        value = self.identity.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def raw(self, payload: bytes) -> TapResponse:
        """Send arbitrary bytes as one TAP message (negative TAP tests, REQ-TAP-003..006)."""
        return self.client.tap.call_raw(payload)

    def alive(self) -> bool:
        """ECHO round trip: the device still answers correctly (REQ-TAP-005, REQ-ERR-007)."""
        probe = time.time_ns().to_bytes(8, "big")
        return self.client.echo(probe) == probe


def _in_process(name: str) -> AgentClient:
    agent = ReferenceTestAgent(firmware=f"pqiot-reference-in-process ({name})")
    return AgentClient(lambda: TapClient(InMemoryChannel(agent), timeout=5.0))


@contextmanager
def open_device(name: str, *, in_process: bool | None = None) -> Iterator[Device]:
    """Bring target ``name`` up for the block; ``in_process`` defaults to True for host-ref."""
    use_memory = name in IN_PROCESS_TARGETS if in_process is None else in_process
    if use_memory:
        if name not in IN_PROCESS_TARGETS:
            raise DeviceUnavailable(
                f"{name!r} cannot run in process; only {', '.join(IN_PROCESS_TARGETS)} can"
            )
        client = _in_process(name)
        try:
            identity = client.identify()
            yield Device(name, "in-process", client, identity, {"name": name, "kind": "in-process"})
        finally:
            client.close()
        return
    with _harness_client(name) as (description, client):
        yield Device(name, "tap", client, client.identify(), description)


@contextmanager
def _harness_client(name: str) -> Iterator[tuple[dict[str, Any], AgentClient]]:
    try:
        from pqiot.hil import targets as hil_targets
    except ImportError as exc:  # pragma: no cover - the hil portion ships with pqiot
        raise DeviceUnavailable(
            f"target {name!r} needs the HIL harness (pqiot.hil), which failed to import: {exc}"
        ) from None
    try:
        description = hil_targets.target(name)
    except KeyError as exc:
        raise DeviceUnavailable(str(exc.args[0] if exc.args else exc)) from None
    except Exception as exc:
        raise DeviceUnavailable(f"cannot read the target descriptions: {exc}") from None
    try:
        opened = hil_targets.open_client(name)
        _runner, client = opened.__enter__()
    except Exception as exc:
        raise DeviceUnavailable(
            f"target {name!r} could not be brought up: {exc}. "
            f"Check `pqiot targets` and the target's [firmware]/[launch] sections "
            f"(for QEMU targets: `make firmware` and qemu-system-arm on PATH)."
        ) from None
    try:
        yield description.to_json(), client
    finally:
        opened.__exit__(None, None, None)
