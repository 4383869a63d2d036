"""Typed Test Agent client: one method per TAP command, with recovery and BLOCKED verdicts.

Built on the message channels of :mod:`pqiot.hil.agent_client`. What this layer adds:

* per-command timeouts (ACCUMULATED gets the target's long timeout);
* resync: after a timeout, an ECHO with fresh random data tells a slow or
  confused DUT apart from a hung one, and flushes stale responses (they are
  matched by request_id and dropped);
* recovery: when the DUT does not answer the ECHO either, the client asks its
  ``recover`` callback (restart the emulator, reset through the probe) and
  retries a *stateless* command once more;
* :class:`~pqiot.hil.verdict.Blocked` when none of that yields a trustworthy
  answer. A stateful command (credentials, sessions: 80-91) is never retried
  after a recovery, because the DUT lost the state it depended on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pqiot.hil.agent_client import AgentError, AgentTimeout, TapClient
from pqiot.hil.verdict import Blocked
from pqiot.reference.cbor import CborValue
from pqiot.reference.tap.codes import COMMAND_NAMES, Command, Status

__all__ = ["AgentClient", "AuditRead", "Measurement", "StatusError"]

#: Commands whose result depends on earlier commands; never retried after recovery.
#: AUDIT_READ also removes what it returns, so a retry would lose events.
STATEFUL = frozenset(range(Command.CRED_LOAD, Command.SUBSCRIBE_DELIVER + 1)) | {
    Command.MEASURE,
    Command.AUDIT_READ,
}


class StatusError(Exception):
    """The agent answered, with a status other than 0 (a genuine result, not a link problem)."""

    def __init__(self, command: int, status: int, result: Mapping[str, CborValue]) -> None:
        name = COMMAND_NAMES.get(command, str(command))
        try:
            label = Status(status).name.lower()
        except ValueError:
            label = f"status {status}"
        super().__init__(f"{name} answered {label}: {result.get('error', result)!r}")
        self.command = command
        self.status = status
        self.result = dict(result)


@dataclass(frozen=True)
class Measurement:
    """MEASURE (§13.6). ``cycles`` is in units of ``cycle_source``: only dwt/systick are cycles."""

    cmd: int
    cycles: int
    cycle_source: str
    cycles_overflow: bool
    clock_hz: int
    stack_bytes: int | None

    @property
    def unit(self) -> str:
        """What ``cycles`` counts, for reports that must never call a proxy 'cycles'."""
        return {
            "dwt": "cycles",
            "systick": "cycles",
            "qemu-icount": "instruction_proxy",
            "host-ns": "wall_clock_ns",
        }.get(self.cycle_source, "unknown")


@dataclass(frozen=True)
class AuditRead:
    """AUDIT_READ (§13.9): JSON lines without LF, events lost to a full buffer, more pending."""

    events: list[str]
    lost: int
    more: bool


class AgentClient:
    """Typed TAP calls over a connection the ``connect`` callable (re)opens."""

    def __init__(
        self,
        connect: Callable[[], TapClient],
        *,
        recover: Callable[[], None] | None = None,
        timeout: float = 10.0,
        long_timeout: float = 600.0,
        resync_timeout: float = 2.0,
        command_timeouts: Mapping[int, float] | None = None,
    ) -> None:
        self._connect = connect
        #: Seconds per command code, overriding ``timeout`` (e.g. ML-DSA signing on a slow MCU).
        self.command_timeouts: dict[int, float] = dict(command_timeouts or {})
        self._recover = recover
        self.timeout = timeout
        self.long_timeout = long_timeout
        self.resync_timeout = resync_timeout
        self._tap: TapClient | None = None
        self.recoveries = 0
        self.log: list[str] = []

    # -- connection -------------------------------------------------------------------

    @property
    def tap(self) -> TapClient:
        if self._tap is None:
            self._tap = self._connect()
        return self._tap

    def close(self) -> None:
        if self._tap is not None:
            self._tap.close()
            self._tap = None

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resync(self) -> bool:
        """ECHO fresh random bytes; True when the DUT answers them (stale replies are dropped)."""
        data = os.urandom(8)
        try:
            response = self.tap.call(Command.ECHO, {"data": data}, timeout=self.resync_timeout)
        except AgentError:
            return False
        return response.status == Status.OK and response.result.get("data") == data

    def _reconnect_after_recovery(self, name: str, attempts: list[str]) -> None:
        if self._recover is None:
            raise Blocked(
                name, "the DUT stopped answering and no recovery is configured", tuple(attempts)
            )
        self.close()
        try:
            self._recover()
        except Exception as exc:
            attempts.append(f"recovery failed: {exc}")
            raise Blocked(name, "recovery of the DUT failed", tuple(attempts)) from exc
        self.recoveries += 1
        attempts.append("recovered the DUT (restart/reset)")
        self.log.append(f"{name}: recovered the DUT")

    # -- the generic call -------------------------------------------------------------

    def call(
        self,
        command: int,
        args: Mapping[str, CborValue] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, CborValue]:
        """Run one command; status 0 returns the result, another status raises StatusError.

        Link failures are recovered from or end in :class:`Blocked`; never in a made-up result.
        """
        name = COMMAND_NAMES.get(command, str(command))
        limit = timeout if timeout is not None else self.command_timeouts.get(command, self.timeout)
        attempts: list[str] = []
        for attempt in range(2):
            try:
                response = self.tap.call(command, args, timeout=limit)
            except AgentTimeout as exc:
                attempts.append(f"attempt {attempt + 1}: {exc}")
                if self.resync():
                    attempts.append("DUT answered a resync ECHO afterwards: response lost or late")
                    if command in STATEFUL:
                        raise Blocked(
                            name, "no response; the command's effect is unknown", tuple(attempts)
                        ) from exc
                    continue
                self._reconnect_after_recovery(name, attempts)
            except AgentError as exc:
                attempts.append(f"attempt {attempt + 1}: link failed: {exc}")
                self._reconnect_after_recovery(name, attempts)
            else:
                if response.status != Status.OK:
                    raise StatusError(command, response.status, response.result)
                return response.result
            if command in STATEFUL:
                raise Blocked(
                    name,
                    "the DUT was recovered and lost the state this command needs",
                    tuple(attempts),
                )
        raise Blocked(name, "no trustworthy response after recovery", tuple(attempts))

    # -- housekeeping -----------------------------------------------------------------

    def identify(self) -> dict[str, CborValue]:
        return self.call(Command.IDENTIFY)

    def reset(self, scope: str = "all") -> None:
        self.call(Command.RESET, {"scope": scope})

    def echo(self, data: bytes) -> bytes:
        return _bytes(self.call(Command.ECHO, {"data": data}), "data")

    def measure(self) -> Measurement:
        r = self.call(Command.MEASURE)
        stack = r.get("stack_bytes")
        return Measurement(
            cmd=_int(r, "cmd"),
            cycles=_int(r, "cycles"),
            cycle_source=str(r.get("cycle_source")),
            cycles_overflow=bool(r.get("cycles_overflow")),
            clock_hz=_int(r, "clock_hz"),
            stack_bytes=stack if isinstance(stack, int) and not isinstance(stack, bool) else None,
        )

    # -- primitives (16-64) -----------------------------------------------------------

    def mlkem_keygen(self, parameter_set: int, d: bytes, z: bytes) -> tuple[bytes, bytes]:
        r = self.call(Command.MLKEM_KEYGEN, {"set": parameter_set, "d": d, "z": z})
        return _bytes(r, "ek"), _bytes(r, "dk")

    def mlkem_encaps(self, parameter_set: int, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
        r = self.call(Command.MLKEM_ENCAPS, {"set": parameter_set, "ek": ek, "m": m})
        return _bytes(r, "c"), _bytes(r, "k")

    def mlkem_decaps(self, parameter_set: int, dk: bytes, c: bytes) -> bytes:
        return _bytes(
            self.call(Command.MLKEM_DECAPS, {"set": parameter_set, "dk": dk, "c": c}), "k"
        )

    def sig_keygen(self, alg: int, seed: bytes) -> tuple[bytes, bytes]:
        r = self.call(Command.SIG_KEYGEN, {"alg": alg, "seed": seed})
        return _bytes(r, "pk"), _bytes(r, "sk")

    def sig_sign(
        self, alg: int, sk: bytes, msg: bytes, ctx: bytes = b"", rnd: bytes = bytes(32)
    ) -> bytes:
        args: dict[str, CborValue] = {"alg": alg, "sk": sk, "msg": msg, "ctx": ctx, "rnd": rnd}
        return _bytes(self.call(Command.SIG_SIGN, args), "sig")

    def sig_verify(self, alg: int, pk: bytes, msg: bytes, sig: bytes, ctx: bytes = b"") -> bool:
        args: dict[str, CborValue] = {"alg": alg, "pk": pk, "msg": msg, "sig": sig, "ctx": ctx}
        return _bool(self.call(Command.SIG_VERIFY, args), "valid")

    def aead_seal(self, alg: int, key: bytes, nonce: bytes, aad: bytes, pt: bytes) -> bytes:
        args: dict[str, CborValue] = {"alg": alg, "key": key, "nonce": nonce, "aad": aad, "pt": pt}
        return _bytes(self.call(Command.AEAD_SEAL, args), "ct")

    def aead_open(self, alg: int, key: bytes, nonce: bytes, aad: bytes, ct: bytes) -> bytes | None:
        args: dict[str, CborValue] = {"alg": alg, "key": key, "nonce": nonce, "aad": aad, "ct": ct}
        r = self.call(Command.AEAD_OPEN, args)
        return _bytes(r, "pt") if _bool(r, "valid") else None

    def hkdf(
        self,
        hash_alg: int,
        mode: str = "full",
        *,
        salt: bytes = b"",
        ikm: bytes = b"",
        prk: bytes = b"",
        info: bytes = b"",
        length: int = 0,
    ) -> bytes:
        args: dict[str, CborValue] = {"hash": hash_alg, "mode": mode}
        if mode in ("full", "extract"):
            args.update(salt=salt, ikm=ikm)
        if mode in ("full", "expand"):
            args.update(info=info, len=length)
        if mode == "expand":
            args["prk"] = prk
        return _bytes(self.call(Command.HKDF, args), "okm")

    def kmac(
        self, variant: int, key: bytes, data: bytes, length: int, custom: bytes = b""
    ) -> bytes:
        args: dict[str, CborValue] = {
            "variant": variant,
            "key": key,
            "data": data,
            "len": length,
            "custom": custom,
        }
        return _bytes(self.call(Command.KMAC, args), "mac")

    def hash(self, alg: str, data: bytes, length: int | None = None) -> bytes:
        args: dict[str, CborValue] = {"alg": alg, "data": data}
        if length is not None:
            args["len"] = length
        return _bytes(self.call(Command.HASH, args), "digest")

    def accumulated(self, prim: str, n: int, *, timeout: float | None = None) -> bytes:
        r = self.call(
            Command.ACCUMULATED, {"prim": prim, "n": n}, timeout=timeout or self.long_timeout
        )
        if r.get("n") != n:
            raise StatusError(
                Command.ACCUMULATED, Status.INTERNAL, {"error": f"ran n={r.get('n')!r}, asked {n}"}
            )
        return _bytes(r, "digest")

    # -- protocol roles (80-89) ---------------------------------------------------------

    def cred_load(self, slot: str, **args: CborValue) -> bytes:
        return _bytes(self.call(Command.CRED_LOAD, {"slot": slot, **args}), "kid")

    def session_start(
        self, role: str, method: int, suites: list[int] | None, **options: CborValue
    ) -> tuple[int, list[bytes]]:
        """``suites`` None omits the key: the device's default policy (§13.5, REQ-SUITE-003)."""
        args: dict[str, CborValue] = {"role": role, "method": method, **options}
        if suites is not None:
            args["suites"] = list(suites)
        r = self.call(Command.SESSION_START, args)
        return _int(r, "session"), _byte_list(r, "out")

    def session_deliver(self, session: int, msg: bytes) -> tuple[list[bytes], str]:
        r = self.call(Command.SESSION_DELIVER, {"session": session, "msg": msg})
        return _byte_list(r, "out"), str(r.get("state"))

    def app_send(self, session: int, data: bytes) -> list[bytes]:
        return _byte_list(self.call(Command.APP_SEND, {"session": session, "data": data}), "out")

    def app_receive(self, session: int, record: bytes) -> tuple[int, bytes, list[bytes]]:
        r = self.call(Command.APP_RECEIVE, {"session": session, "record": record})
        return _int(r, "content_type"), _bytes(r, "data"), _byte_list(r, "out")

    def export(self, session: int, label: int, context: bytes, length: int) -> bytes:
        args: dict[str, CborValue] = {
            "session": session,
            "label": label,
            "context": context,
            "len": length,
        }
        return _bytes(self.call(Command.EXPORT, args), "okm")

    def key_update(self, session: int, nonce: bytes | None = None) -> list[bytes]:
        args: dict[str, CborValue] = {"session": session}
        if nonce is not None:
            args["nonce"] = nonce
        return _byte_list(self.call(Command.KEY_UPDATE, args), "out")

    def app_poll(self, session: int) -> list[bytes]:
        return _byte_list(self.call(Command.APP_POLL, {"session": session}), "data")

    def session_info(self, session: int) -> dict[str, CborValue]:
        return self.call(Command.SESSION_INFO, {"session": session})

    def session_close(self, session: int, alert: str | None = None) -> list[bytes]:
        args: dict[str, CborValue] = {"session": session}
        if alert is not None:
            args["alert"] = alert
        return _byte_list(self.call(Command.SESSION_CLOSE, args), "out")

    # -- audit (97, optional) ----------------------------------------------------------

    def audit_read(self) -> AuditRead:
        """Take the buffered audit events (§13.9); status 1 if the device lacks AUDIT_READ."""
        r = self.call(Command.AUDIT_READ, {})
        events = _field(r, "events", list, "an array")
        if not all(isinstance(event, str) for event in events):
            raise StatusError(
                Command.AUDIT_READ,
                Status.INTERNAL,
                {"error": "result key 'events' holds non-text items"},
            )
        return AuditRead([str(e) for e in events], _int(r, "lost"), _bool(r, "more"))

    def audit_read_all(self, *, max_reads: int = 64) -> AuditRead:
        """AUDIT_READ until ``more`` is false: every buffered event, and the total ``lost``."""
        events: list[str] = []
        lost = 0
        for _ in range(max_reads):
            part = self.audit_read()
            events += part.events
            lost += part.lost
            if not part.more:
                return AuditRead(events, lost, False)
        return AuditRead(events, lost, True)

    def publish(
        self, topic: str, content: bytes, *, encrypt: bool, group_kid: bytes, **options: CborValue
    ) -> bytes:
        args: dict[str, CborValue] = {
            "topic": topic,
            "content": content,
            "encrypt": encrypt,
            "group_kid": group_kid,
            **options,
        }
        return _bytes(self.call(Command.PUBLISH, args), "msg")

    def subscribe_deliver(
        self, topic: str, msg: bytes, now_ms: int | None = None
    ) -> dict[str, CborValue]:
        args: dict[str, CborValue] = {"topic": topic, "msg": msg}
        if now_ms is not None:
            args["now_ms"] = now_ms
        return self.call(Command.SUBSCRIBE_DELIVER, args)


def _field(result: Mapping[str, CborValue], key: str, kind: type, what: str) -> Any:
    value = result.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StatusError(
            -1, Status.INTERNAL, {"error": f"result key {key!r} is not {what}: {value!r}"}
        )
    return value


def _bytes(result: Mapping[str, CborValue], key: str) -> bytes:
    return bytes(_field(result, key, bytes, "a byte string"))


def _int(result: Mapping[str, CborValue], key: str) -> int:
    return int(_field(result, key, int, "an integer"))


def _bool(result: Mapping[str, CborValue], key: str) -> bool:
    return bool(_field(result, key, bool, "a boolean"))


def _byte_list(result: Mapping[str, CborValue], key: str) -> list[bytes]:
    items = _field(result, key, list, "an array")
    if not all(isinstance(item, bytes) for item in items):
        raise StatusError(
            -1, Status.INTERNAL, {"error": f"result key {key!r} holds non-bytes items"}
        )
    return [bytes(item) for item in items]
