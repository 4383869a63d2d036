"""The device under fuzzing: a target brought up by the HIL harness, watched for failure.

Everything goes through the harness's :class:`~pqiot.hil.runner.TargetRunner` and
its TAP client, so the transport (TCP with a length prefix, serial framing on a
socket, a pipe or a UART) is the target description's business; only ``wire``
inputs look at which framing the channel uses. Unlike the conformance client,
nothing here recovers silently: a timeout, a dropped link or an exited process
becomes a :class:`DeviceFailure` classified as crash, hang or reset.
"""

from __future__ import annotations

import contextlib
import os
import re
import time

from pqiot.conformance.peer import suite_parties
from pqiot.fuzz.live.inputs import Context, LiveInput
from pqiot.hil.agent_client import AgentError, AgentTimeout, SerialChannel, TapClient, TapResponse
from pqiot.hil.runner import TargetRunner
from pqiot.hil.target_schema import TargetDescription
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.errors import DecodeError
from pqiot.reference.tap.codes import Command, Status

__all__ = [
    "DeviceFailure",
    "FuzzDevice",
    "NotReplayable",
    "SetupFailed",
    "command_of",
    "sanitizer_report",
]

_SANITIZER = re.compile(
    r"(==\d+==ERROR: \w+Sanitizer.*|\S+:\d+:\d+: runtime error: .*|SUMMARY: \w+Sanitizer: .*)"
)
#: SESSION_DELIVER / SESSION_INFO states of an established session (§13.5 uses DONE).
ESTABLISHED = frozenset({"DONE", "done", "ESTABLISHED", "established"})
#: Commands after which the device's provisioning (credentials, sessions) is unknown.
_STATE_CHANGING = {Command.RESET, Command.CRED_LOAD}


class DeviceFailure(Exception):
    """The device crashed, hung or reset; ``kind`` says which, ``evidence`` shows why."""

    def __init__(self, kind: str, detail: str, evidence: str = "") -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.evidence = evidence


class SetupFailed(Exception):
    """The device answered, but refused a step of a real conversation (sanity findings)."""


class NotReplayable(SetupFailed):
    """Given the same randomness, the device answered the recorded message_1 differently."""


def sanitizer_report(log: str) -> str:
    """The sanitizer lines of a target's output, or "" when there are none."""
    return "\n".join(m.group(0) for m in _SANITIZER.finditer(log))


class FuzzDevice:
    """One target instance plus the conversation state the fuzzer keeps on it."""

    def __init__(self, description: TargetDescription, hang_timeout: float) -> None:
        self.description = description
        self.hang_timeout = hang_timeout
        self.runner = TargetRunner(description)
        self.tap: TapClient | None = None
        self.identity: dict[str, CborValue] = {}
        self.own_kid: bytes | None = None
        self.record_session: int | None = None
        self.boots = 0

    # -- lifecycle ----------------------------------------------------------------

    def up(self) -> None:
        self.runner.up()
        self.boots += 1
        self.tap = self.runner.connect()
        self.own_kid = None
        self.record_session = None
        response = self._first_answer()
        if response.status != Status.OK:
            raise SetupFailed(f"IDENTIFY answered status {response.status}: {response.result}")
        self.identity = response.result

    def _first_answer(self) -> TapResponse:
        """IDENTIFY, repeated while the device boots: bytes sent to an emulated UART before
        the firmware set it up are lost, so one lost request is not yet a finding."""
        deadline = time.monotonic() + self.description.timeouts.boot
        while True:
            try:
                return self._tap().call(Command.IDENTIFY, {}, timeout=2.0)
            except AgentTimeout as exc:
                if time.monotonic() > deadline:
                    raise self.diagnose("no answer to IDENTIFY after boot", exc) from None
            except AgentError as exc:
                raise self.diagnose("link failed right after boot", exc) from None

    def restart(self) -> None:
        """A fresh instance (new process or emulator boot): what reproduction runs on."""
        self.down()
        self.up()

    def down(self) -> None:
        if self.tap is not None:
            with contextlib.suppress(Exception):
                self.tap.close()
            self.tap = None
        self.runner.down()

    def log(self) -> str:
        return self.runner.log_tail(1 << 16)

    @property
    def serial(self) -> bool:
        """True when TAP rides serial framing (COBS/CRC) rather than a TCP length prefix."""
        return self.tap is not None and isinstance(self.tap.channel, SerialChannel)

    def exit_code(self) -> int | None:
        process = self.runner.process
        return None if process is None else process.poll()

    def limit(self, key: str, default: int) -> int:
        value = self.identity.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    # -- failure classification ---------------------------------------------------

    def check_sanitizers(self) -> None:
        """A sanitizer report in the target's output is a crash even if it kept running."""
        report = sanitizer_report(self.log())
        if report:
            raise DeviceFailure("crash", "sanitizer report", report + "\n" + self.log()[-4000:])

    def _crash_if_exited(self) -> None:
        code = self.exit_code()
        if code is None:
            return
        log = self.log()
        report = sanitizer_report(log)
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        what = f"{self.description.name} {how}" + (" after a sanitizer report" if report else "")
        raise DeviceFailure("crash", what, (report + "\n" if report else "") + log[-4000:])

    def diagnose(self, during: str, error: Exception) -> DeviceFailure:
        """Classify a link failure: exited (crash), came back (reset) or silent (hang)."""
        try:
            self._crash_if_exited()
        except DeviceFailure as failure:
            return failure
        deadline = time.monotonic() + self.description.timeouts.reset
        while time.monotonic() < deadline:
            if self.exit_code() is not None:
                break
            if self._answers_after_reconnect():
                return DeviceFailure(
                    "reset",
                    f"{during}: {error}; the device answered ECHO again afterwards",
                    self.log()[-4000:],
                )
            time.sleep(0.2)
        try:
            self._crash_if_exited()
        except DeviceFailure as failure:
            return failure
        return DeviceFailure(
            "hang", f"{during}: {error}; no answer for {self.description.timeouts.reset:.0f} s more"
        )

    def _answers_after_reconnect(self) -> bool:
        try:
            if self.tap is not None:
                with contextlib.suppress(Exception):
                    self.tap.close()
            self.tap = self.runner.connect()
            probe = os.urandom(8)
            response = self.tap.call(Command.ECHO, {"data": probe}, timeout=2.0)
        except (AgentError, OSError):
            return False
        return response.status == Status.OK and response.result.get("data") == probe

    # -- TAP ----------------------------------------------------------------------

    def _tap(self) -> TapClient:
        if self.tap is None:
            raise AgentError("the device is not up")
        return self.tap

    def call(
        self, command: int, args: dict[str, CborValue], timeout: float | None = None
    ) -> TapResponse:
        """One request; any failure of the link is diagnosed and raised as DeviceFailure."""
        try:
            return self._tap().call(command, args, timeout=timeout or self.hang_timeout)
        except AgentTimeout as exc:
            raise self.diagnose(f"no answer to command {command}", exc) from None
        except AgentError as exc:
            raise self.diagnose(f"link failed during command {command}", exc) from None

    def ok(self, command: int, args: dict[str, CborValue]) -> dict[str, CborValue]:
        response = self.call(command, args)
        if response.status != Status.OK:
            raise SetupFailed(
                f"command {command} answered status {response.status}: {response.result!r}"
            )
        return response.result

    def alive(self) -> None:
        """ECHO fresh bytes: the device answers, with those bytes (REQ-TAP-005)."""
        probe = os.urandom(8)
        response = self.call(Command.ECHO, {"data": probe})
        if response.status != Status.OK or response.result.get("data") != probe:
            raise self.diagnose("ECHO", AgentError(f"ECHO answered {response!r}"))
        self._crash_if_exited()

    # -- provisioning and the replayed conversation (device = responder) ----------

    def provision(self, suite: int) -> bytes:
        """RESET all, load the device's credential and the tester's; returns the device kid."""
        parties = suite_parties(suite)
        self.ok(Command.RESET, {"scope": "all"})
        kid = self.ok(
            Command.CRED_LOAD,
            {
                "slot": "own",
                "ccs": parties["responder"].credential.cred,
                "sk": parties["responder"].private_key,
            },
        ).get("kid")
        self.ok(Command.CRED_LOAD, {"slot": "peer", "ccs": parties["initiator"].credential.cred})
        if not isinstance(kid, bytes):
            raise SetupFailed(f"CRED_LOAD own returned kid {kid!r}")
        self.own_kid = kid
        self.record_session = None
        return kid

    def start_responder(self, context: Context) -> int:
        """SESSION_START as responder with the context's randomness (REQ-TAP-014)."""
        if self.own_kid is None:
            self.provision(context.suite)
        assert self.own_kid is not None
        args: dict[str, CborValue] = {
            "role": "responder",
            "method": 0,
            "suites": [context.suite],
            "cred": self.own_kid,
            "kem_m": context.kem_m,
            "sig_rnd": context.sig_rnd,
            "c_id": context.c_id,
        }
        response = self.call(Command.SESSION_START, args)
        if response.status == Status.BUSY:  # fuzzed TAP inputs may have used up the sessions
            self.ok(Command.RESET, {"scope": "sessions"})
            self.record_session = None
            response = self.call(Command.SESSION_START, args)
        if response.status != Status.OK or not isinstance(response.result.get("session"), int):
            raise SetupFailed(f"SESSION_START answered {response.status}: {response.result!r}")
        session = response.result["session"]
        assert isinstance(session, int)
        return session

    def replay_to(self, context: Context, stage: int) -> int:
        """A responder session fed the context's messages before ``stage`` (1: after message_1)."""
        session = self.start_responder(context)
        if stage >= 1:
            out = self.ok(Command.SESSION_DELIVER, {"session": session, "msg": context.message_1})
            if out.get("out") != [context.message_2]:
                raise NotReplayable(
                    "the device's message_2 differs from the recorded one although it was "
                    "given the same randomness (REQ-TAP-014); replayed message_3 and records "
                    "would meet other keys"
                )
        if stage >= 3:
            result = self.ok(
                Command.SESSION_DELIVER, {"session": session, "msg": context.message_3}
            )
            if result.get("state") not in ESTABLISHED:
                raise SetupFailed(f"replayed message_3 left the session in {result!r}")
        return session

    def close_session(self, session: int) -> None:
        self.call(Command.SESSION_CLOSE, {"session": session})

    # -- delivering one input -----------------------------------------------------

    def deliver(self, item: LiveInput, context: Context) -> TapResponse | None:
        """Send one input the way its kind enters the device; return the device's answer."""
        if item.kind == "tap":
            return self._deliver_tap(item.data)
        if item.kind == "wire":
            self._deliver_wire(item.data)
            return None
        if item.kind == "record":
            return self._deliver_record(item.data, context)
        # The session is left to the device: start_responder clears the sessions when
        # the device runs out of them (one round trip less per input than a close).
        session = self.replay_to(context, 0 if item.kind == "message_1" else 1)
        return self.call(Command.SESSION_DELIVER, {"session": session, "msg": item.data})

    def _deliver_tap(self, data: bytes) -> TapResponse:
        try:
            response = self._tap().call_raw(data, timeout=self.hang_timeout)
        except AgentTimeout as exc:
            raise self.diagnose("no answer to a TAP message (REQ-TAP-003)", exc) from None
        except AgentError as exc:
            raise self.diagnose("link failed on a TAP message", exc) from None
        if command_of(data) in (None, *_STATE_CHANGING):
            self.own_kid = None  # provisioning may be gone: redo it before the next session
            self.record_session = None
        return response

    def _deliver_wire(self, data: bytes) -> None:
        tap = self._tap()
        channel = tap.channel
        try:
            channel.send_bytes(data)  # type: ignore[attr-defined]
            if self.serial:
                channel.send_bytes(b"\x00")  # type: ignore[attr-defined]
                deadline = time.monotonic() + 0.05
                while channel.receive_message(deadline) is not None:
                    pass
        except AgentError as exc:
            raise self.diagnose("link failed on raw link bytes", exc) from None
        if not self.serial:
            # A stream framing cannot resynchronise after a broken length prefix: the
            # device may close the connection (REQ-TCP-002). Real peers reconnect; so do we.
            with contextlib.suppress(Exception):
                tap.close()
            try:
                self.tap = self.runner.connect()
            except AgentError as exc:
                raise self.diagnose("reconnecting after raw link bytes", exc) from None
        self.own_kid = None  # a frame may have carried a valid RESET or CRED_LOAD
        self.record_session = None

    def _deliver_record(self, data: bytes, context: Context) -> TapResponse:
        if self.record_session is None:
            self.record_session = self.replay_to(context, 3)
        session = self.record_session
        response = self.call(Command.APP_RECEIVE, {"session": session, "record": data})
        if response.status != Status.OK:
            info = self.call(Command.SESSION_INFO, {"session": session})
            if info.status != Status.OK or info.result.get("state") not in ESTABLISHED:
                self.record_session = None  # the record ended the session: set up again
        return response


def command_of(data: bytes) -> int | None:
    """The command code of a TAP message as the reference reads it, None if unreadable."""
    try:
        value = cbor.decode(data)
    except DecodeError:
        return None
    if isinstance(value, list) and value and isinstance(value[0], int):
        return value[0]
    return None
