"""The live-device fuzzing loop: mutate, send, watch, and turn a failure into a reproducer.

Each input is one real protocol message (message_1, message_3, a record), one
TAP request, or raw link bytes, mutated from what the device really exchanged
with the reference (structure-aware for CBOR, byte-level otherwise). After
every input the device must answer a fresh ECHO; every ``sanity_every``
inputs it must complete a whole handshake with the reference and carry data
both ways. A failure is replayed on a fresh instance, minimised by delta
debugging while it still reproduces, and saved with a one-line reproduce command.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pqiot.fuzz.byte_mutator import make_byte_mutator
from pqiot.fuzz.ddmin import ddmin
from pqiot.fuzz.dictionaries import dictionary
from pqiot.fuzz.live.device import (
    DeviceFailure,
    FuzzDevice,
    NotReplayable,
    SetupFailed,
    command_of,
)
from pqiot.fuzz.live.inputs import Context, Finding, LiveInput, save_finding
from pqiot.fuzz.live.reference import Recorded, record_handshake, sanity_handshake
from pqiot.fuzz.more_harnesses import tap_request_seeds
from pqiot.fuzz.mutator import mutate_cbor
from pqiot.hil.target_schema import TargetDescription
from pqiot.reference.framing.length_prefix import encode_frame
from pqiot.reference.framing.serial_frames import CHANNEL_TAP, encode_message
from pqiot.reference.tap.codes import Command
from pqiot.reference.tap.messages import encode_request

__all__ = ["CampaignResult", "Options", "reproduce", "reproduce_command", "run_campaign"]

#: How often each kind is drawn (wire inputs also exercise the link's framing).
WEIGHTS = {"tap": 3, "wire": 2, "message_1": 2, "message_3": 2, "record": 3}
_WIRE_IDS = 0x7FFF_0000
#: TAP commands a mutated request must not become: legitimately unbounded work.
_EXCLUDED_COMMANDS = {Command.ACCUMULATED}


@dataclass(frozen=True)
class Options:
    frames: int | None = None
    seconds: float | None = None
    seed: int = 0
    sanity_every: int = 50
    out: Path = Path("reports") / "fuzz"
    hang_timeout: float | None = None
    minimise_tests: int = 48
    #: Wall-clock budget of minimisation: a hang costs a whole timeout per test.
    minimise_seconds: float = 300.0
    kinds: tuple[str, ...] = tuple(WEIGHTS)


@dataclass
class CampaignResult:
    target: str
    sent: int = 0
    seconds: float = 0.0
    sanity_runs: int = 0
    per_kind: dict[str, int] = field(default_factory=dict)
    findings: list[tuple[Finding, Path]] = field(default_factory=list)

    @property
    def inputs_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def reproduce_command(target: str, path: Path) -> str:
    return f"pqiot fuzz target --target {target} --reproduce {path}"


def findings_dir(options: Options, target: str) -> Path:
    return options.out / f"target-{target}"


class Generator:
    """Draws the next input: a kind by weight, a seed of that kind, one or two mutations."""

    def __init__(
        self, recorded: Recorded, device: FuzzDevice, seed: int, kinds: Iterable[str]
    ) -> None:
        self.rng = random.Random(seed)
        self.recorded = recorded
        self.kinds = [k for k in kinds if k in WEIGHTS]
        tokens = dictionary(("cbor", "edhoc", "tap", "framing", "oscore"))
        self.bytes = make_byte_mutator(self.rng, tokens)
        self.max_request = device.limit("max_tap_request", 12288) + 64
        self.max_message = device.limit("max_hs_message", 5120) + 64
        self.max_record = device.limit("max_record_plaintext", 4096) + 128
        self.serial = device.serial
        self.mtu = device.limit("serial_mtu", 256)
        context = recorded.context
        self.tap_seeds = [
            *tap_request_seeds(),
            encode_request(Command.SESSION_DELIVER, 90, {"session": 0, "msg": context.message_1}),
        ]
        # Request ids far above the client's own: a late answer to a mutated frame must
        # never pass for the answer to the liveness ECHO that follows.
        self.wire_payloads = [
            encode_request(Command.ECHO, _WIRE_IDS + 1, {"data": b"live"}),
            encode_request(Command.IDENTIFY, _WIRE_IDS + 2, {}),
            encode_request(Command.HASH, _WIRE_IDS + 3, {"alg": "sha256", "data": bytes(300)}),
            encode_request(
                Command.SESSION_DELIVER, _WIRE_IDS + 4, {"session": 7, "msg": context.message_1}
            ),
        ]

    def _structured(self, data: bytes, max_size: int) -> bytes:
        out = data
        for _ in range(self.rng.randint(1, 2)):
            out = mutate_cbor(out, max_size, self.rng.randrange(1 << 30), self.bytes)
        return out

    def next(self) -> LiveInput:
        kind = self.rng.choices(self.kinds, [WEIGHTS[k] for k in self.kinds])[0]
        context = self.recorded.context
        if kind == "tap":
            while True:
                data = self._structured(self.rng.choice(self.tap_seeds), self.max_request)
                # An empty TAP message cannot be framed at all (REQ-TCP-002, §12.1).
                if data and command_of(data) not in _EXCLUDED_COMMANDS:
                    return LiveInput(kind, data)
        if kind == "wire":
            payload = self.rng.choice(self.wire_payloads)
            if self.serial:
                framed = encode_message(CHANNEL_TAP, self.rng.randrange(256), payload, self.mtu)
            else:
                framed = encode_frame(payload, 1 << 20)
            return LiveInput(kind, self.bytes(framed, len(framed) + 256))
        if kind == "message_1":
            return LiveInput(kind, self._structured(context.message_1, self.max_message))
        if kind == "message_3":
            return LiveInput(kind, self._structured(context.message_3, self.max_message))
        return LiveInput(kind, self.bytes(self.recorded.next_record(), self.max_record))


def _probe(device: FuzzDevice, inputs: list[LiveInput], context: Context, sanity: bool) -> None:
    """Send ``inputs`` (each followed by the liveness check), then the sanity handshake."""
    for item in inputs:
        device.deliver(item, context)
        device.alive()
    if sanity:
        try:
            sanity_handshake(device)
        except SetupFailed as exc:
            raise DeviceFailure("sanity", str(exc)) from None
    device.check_sanitizers()


def _fails_the_same(
    device: FuzzDevice, finding: Finding, inputs: list[LiveInput], context: Context
) -> bool:
    """Fresh instance, replay: does the same kind of failure happen again?"""
    try:
        device.restart()
    except (DeviceFailure, SetupFailed):
        return False  # a fresh instance that does not come up tells nothing about the input
    try:
        _probe(device, inputs, context, finding.sanity)
    except DeviceFailure as failure:
        return failure.kind == finding.kind
    except SetupFailed:
        return False
    return False


def _minimise(
    device: FuzzDevice,
    finding: Finding,
    context: Context,
    budget: int,
    seconds: float,
    log: Callable[[str], None],
) -> None:
    """Shrink the inputs list, then the bytes of a single remaining input."""
    deadline = time.monotonic() + seconds
    if len(finding.inputs) > 1:
        finding.inputs = ddmin(
            finding.inputs,
            lambda subset: _fails_the_same(device, finding, subset, context),
            max_tests=budget // 2,
            deadline=deadline,
        )
    if len(finding.inputs) == 1:
        item = finding.inputs[0]
        finding.original_size = len(item.data)
        smallest = ddmin(
            list(item.data),
            lambda kept: _fails_the_same(
                device, finding, [LiveInput(item.kind, bytes(kept))], context
            ),
            max_tests=budget,
            deadline=deadline,
        )
        finding.inputs = [LiveInput(item.kind, bytes(smallest))]
        log(f"minimised {finding.original_size} -> {len(smallest)} bytes")


def handle_finding(
    device: FuzzDevice,
    failure: DeviceFailure,
    inputs: list[LiveInput],
    context: Context,
    options: Options,
    sanity: bool,
    log: Callable[[str], None],
) -> tuple[Finding, Path]:
    """Reproduce on a fresh instance, minimise if it reproduces, save the reproducer."""
    name = device.description.name
    finding = Finding(
        failure.kind,
        failure.detail,
        list(inputs),
        target=name,
        evidence=failure.evidence or device.log()[-4000:],
        context=context,
        sanity=sanity or failure.kind == "sanity",
    )
    log(f"finding: {failure.kind}: {failure.detail}; reproducing on a fresh instance")
    finding.reproduced = _fails_the_same(device, finding, finding.inputs, context)
    if finding.reproduced:
        _minimise(device, finding, context, options.minimise_tests, options.minimise_seconds, log)
    else:
        finding.notes.append(
            "did not reproduce on a fresh instance: it may need earlier inputs, timing, or "
            "an outside cause (the process was killed, the host was overloaded)"
        )
    path = save_finding(finding, findings_dir(options, name))
    return finding, path


def run_campaign(
    description: TargetDescription,
    options: Options,
    log: Callable[[str], None] = print,
    before_input: Callable[[int, FuzzDevice], None] | None = None,
) -> CampaignResult:
    """Fuzz the target until ``frames`` inputs or ``seconds`` elapse, or the first finding.

    ``before_input(count, device)`` runs before each input (tests use it to make the
    device die mid-run).
    """
    hang = options.hang_timeout or description.timeouts.command
    device = FuzzDevice(description, hang)
    result = CampaignResult(description.name)
    try:
        device.up()
        recorded = record_handshake(device, options.seed)
        generator = Generator(recorded, device, options.seed, options.kinds)
        log(
            f"{description.name}: fuzzing over {description.transport} "
            f"({'serial framing' if device.serial else 'length-prefixed'}); "
            f"sanity handshake every {options.sanity_every} inputs"
        )
        started = time.monotonic()
        since_sanity: list[LiveInput] = []
        limit_frames = options.frames if options.frames is not None else None
        limit_seconds = options.seconds if options.frames is None else None
        if limit_frames is None and limit_seconds is None:
            limit_seconds = 60.0
        while True:
            elapsed = time.monotonic() - started
            if limit_frames is not None and result.sent >= limit_frames:
                break
            if limit_seconds is not None and elapsed >= limit_seconds:
                break
            item = generator.next()
            since_sanity.append(item)
            if before_input is not None:
                before_input(result.sent, device)
            try:
                device.deliver(item, recorded.context)
                result.sent += 1
                result.per_kind[item.kind] = result.per_kind.get(item.kind, 0) + 1
                device.alive()
                if result.sent % 25 == 0:
                    device.check_sanitizers()
                if options.sanity_every and result.sent % options.sanity_every == 0:
                    result.sanity_runs += 1
                    try:
                        sanity_handshake(device)
                    except SetupFailed as exc:
                        raise DeviceFailure("sanity", str(exc)) from None
                    since_sanity = []
            except DeviceFailure as failure:
                result.seconds = time.monotonic() - started
                sanity = failure.kind == "sanity"
                inputs = since_sanity if sanity else [item]
                result.findings.append(
                    handle_finding(device, failure, inputs, recorded.context, options, sanity, log)
                )
                return result
            except NotReplayable as exc:
                # Without a byte-identical message_2, a replayed message_3 or record meets
                # other keys and stops at the first check: not worth sending.
                log(f"dropping message_3 and record inputs: {exc}")
                generator.kinds = [k for k in generator.kinds if k not in ("message_3", "record")]
            except SetupFailed as exc:
                # The device answered but refused a step the fuzzer needs (e.g. after a
                # fuzzed RESET): provision again; if even that fails, it is a finding.
                log(f"re-provisioning after: {exc}")
                try:
                    device.provision(recorded.context.suite)
                except SetupFailed as again:
                    refused = DeviceFailure("sanity", f"cannot provision the device: {again}")
                    result.findings.append(
                        handle_finding(
                            device, refused, since_sanity, recorded.context, options, True, log
                        )
                    )
                    return result
        result.seconds = time.monotonic() - started
        return result
    finally:
        device.down()


def reproduce(
    description: TargetDescription,
    finding: Finding,
    hang_timeout: float | None = None,
) -> DeviceFailure | None:
    """Replay a saved finding on a fresh instance; the failure it causes, or None."""
    if finding.context is None and any(i.kind not in ("tap", "wire") for i in finding.inputs):
        raise ValueError("this reproducer has protocol inputs but no recorded context")
    device = FuzzDevice(description, hang_timeout or description.timeouts.command)
    context = finding.context or Context(-102, b"", b"", b"", bytes(32), bytes(32), b"\x2a")
    try:
        device.up()
        _probe(device, finding.inputs, context, finding.sanity)
    except DeviceFailure as failure:
        return failure
    finally:
        device.down()
    return None
