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

:meth:`Device.power_cycle` restarts the device as a power loss would (spec
§7.7): a harness target is restarted (its NVM file survives in the runner's
working directory), the in-process reference agent is created anew, keeping
nothing, because it persists nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pqiot.conformance.applicability import Statement
from pqiot.hil.agent_client import ByteLink, TapClient, TapResponse
from pqiot.hil.client import AgentClient, StatusError
from pqiot.reference.cbor import CborValue
from pqiot.reference.tap.agent import ReferenceTestAgent
from pqiot.reference.tap.codes import Command

if TYPE_CHECKING:
    from pqiot.hil.runner import TargetRunner

__all__ = [
    "IN_PROCESS_TARGETS",
    "Device",
    "DeviceUnavailable",
    "InMemoryChannel",
    "Loaded",
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


#: A successful CRED_LOAD as the device saw it: its arguments (canonical order) and kid.
Loaded = tuple[tuple[tuple[str, CborValue], ...], bytes]

#: Commands whose lasting effects RESET "sessions" undoes, or that have none (§13.3).
_SESSION_SCOPED = frozenset(
    {
        Command.IDENTIFY, Command.ECHO, Command.MLKEM_KEYGEN, Command.MLKEM_ENCAPS,
        Command.MLKEM_DECAPS, Command.SIG_KEYGEN, Command.SIG_SIGN, Command.SIG_VERIFY,
        Command.AEAD_SEAL, Command.AEAD_OPEN, Command.HKDF, Command.KMAC, Command.HASH,
        Command.ACCUMULATED, Command.SESSION_START, Command.SESSION_DELIVER,
        Command.APP_SEND, Command.APP_RECEIVE, Command.EXPORT, Command.KEY_UPDATE,
        Command.APP_POLL, Command.SESSION_INFO, Command.SESSION_CLOSE, Command.MEASURE,
        Command.AUDIT_READ,
    }
)  # fmt: skip


def load_key(args: Mapping[str, CborValue]) -> tuple[tuple[str, CborValue], ...]:
    """CRED_LOAD arguments in a canonical, comparable form."""
    return tuple(sorted(args.items()))


@dataclass
class Device:
    """One reachable device: its name, how it is reached, its IDENTIFY result and client.

    Two bookkeeping fields let the suite skip work it can prove redundant, whatever the
    fixture order: ``uses`` counts every TAP call made through ``client`` or :meth:`raw`
    (shared sanity handshakes); ``loaded`` is every CRED_LOAD since the last RESET
    "all", or None once anything happened that RESET "sessions" would not undo (a
    refused load, TOFU, pub/sub, raw bytes, a recovery) — reused provisioning.
    """

    name: str
    mode: str  # "in-process" or "tap"
    client: AgentClient
    identity: dict[str, CborValue]
    description: dict[str, Any] = field(default_factory=dict)
    #: Turns the device off and on again (see :meth:`power_cycle`); None: impossible.
    restart: Callable[[], None] | None = field(default=None, repr=False)
    uses: int = field(default=0, init=False)
    loaded: tuple[Loaded, ...] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        # Every typed AgentClient method goes through ``call``; wrapping it sees them all.
        call = self.client.call

        def observed(
            command: int,
            args: Mapping[str, CborValue] | None = None,
            *,
            timeout: float | None = None,
        ) -> dict[str, CborValue]:
            self.uses += 1
            recoveries = self.client.recoveries
            loaded, self.loaded = self.loaded, None
            try:
                result = call(command, args, timeout=timeout)
            except StatusError:
                # Refused: a session-scoped command still changed at most sessions.
                if self.client.recoveries == recoveries and _session_scoped(command, args or {}):
                    self.loaded = loaded
                raise
            if self.client.recoveries == recoveries:
                self.loaded = _after(command, args or {}, result, loaded)
            return result

        setattr(self.client, "call", observed)  # noqa: B010 - this instance only

    def untouched_since(self, uses: int) -> bool:
        """True when no TAP call was made since :attr:`uses` had the value ``uses``."""
        return self.uses == uses

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
        self.uses += 1
        self.loaded = None  # whatever the bytes were, the credential state is unknown now
        return self.client.tap.call_raw(payload)

    def power_cycle(self) -> None:
        """Power the device off and on (spec §7.7): RAM is lost, persisted state survives.

        The client reconnects on its next call. Credentials loaded without ``persist``
        are gone afterwards, so :attr:`loaded` becomes unknown.
        """
        if self.restart is None:
            raise DeviceUnavailable(
                f"{self.name!r} cannot be power-cycled by the harness: it has no [launch] "
                "section and no [probe] to reset it"
            )
        self.uses += 1
        self.loaded = None
        self.client.close()
        self.restart()

    def alive(self) -> bool:
        """ECHO round trip: the device still answers correctly (REQ-TAP-005, REQ-ERR-007)."""
        probe = time.time_ns().to_bytes(8, "big")
        return self.client.echo(probe) == probe


def _after(
    command: int,
    args: Mapping[str, CborValue],
    result: Mapping[str, CborValue],
    loaded: tuple[Loaded, ...] | None,
) -> tuple[Loaded, ...] | None:
    """The credential state after a successful command (see :class:`Device`)."""
    if command == Command.RESET:
        scope = args.get("scope", "all")
        return () if scope in ("all", "factory") else loaded if scope == "sessions" else None
    if loaded is None:
        return None
    if command == Command.AUDIT_READ and result.get("lost", 0) != 0:
        return None  # the lost count now waits for the next event; RESET "sessions" keeps it
    if command == Command.CRED_LOAD:
        kid = result.get("kid")
        trusted = args.get("trust", "allow-list") == "allow-list"
        return (*loaded, (load_key(args), kid)) if isinstance(kid, bytes) and trusted else None
    return loaded if _session_scoped(command, args) else None


def _session_scoped(command: int, args: Mapping[str, CborValue]) -> bool:
    # A TOFU session may add a credential, which RESET "sessions" keeps.
    return command in _SESSION_SCOPED and not (
        command == Command.SESSION_START and args.get("tofu")
    )


def _in_process(name: str) -> tuple[AgentClient, Callable[[], None]]:
    """The client of a fresh reference agent, and the power cycle that replaces the agent."""
    agents = [ReferenceTestAgent(firmware=f"pqiot-reference-in-process ({name})")]

    def power_cycle() -> None:
        agents[0] = ReferenceTestAgent(firmware=agents[0].firmware)

    client = AgentClient(lambda: TapClient(InMemoryChannel(agents[0]), timeout=5.0))
    return client, power_cycle


@contextmanager
def open_device(name: str, *, in_process: bool | None = None) -> Iterator[Device]:
    """Bring target ``name`` up for the block; ``in_process`` defaults to True for host-ref."""
    use_memory = name in IN_PROCESS_TARGETS if in_process is None else in_process
    if use_memory:
        if name not in IN_PROCESS_TARGETS:
            raise DeviceUnavailable(
                f"{name!r} cannot run in process; only {', '.join(IN_PROCESS_TARGETS)} can"
            )
        client, power_cycle = _in_process(name)
        try:
            identity = client.identify()
            description = {"name": name, "kind": "in-process"}
            yield Device(name, "in-process", client, identity, description, power_cycle)
        finally:
            client.close()
        return
    with _harness_client(name) as (description, runner, client):
        restart = runner.power_cycle if runner.recovery() is not None else None
        yield Device(name, "tap", client, client.identify(), description, restart)


@contextmanager
def _harness_client(name: str) -> Iterator[tuple[dict[str, Any], TargetRunner, AgentClient]]:
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
        runner, client = opened.__enter__()
    except Exception as exc:
        raise DeviceUnavailable(
            f"target {name!r} could not be brought up: {exc}. "
            f"Check `pqiot targets` and the target's [firmware]/[launch] sections "
            f"(for QEMU targets: `make firmware` and qemu-system-arm on PATH)."
        ) from None
    try:
        yield description.to_json(), runner, client
    finally:
        opened.__exit__(None, None, None)
