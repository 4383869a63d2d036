"""A Test Agent backed by the Python reference: the reference as a device under test.

:class:`ReferenceTestAgent` turns one TAP request (bytes) into one TAP response
(bytes). It is sans-I/O, so the same object serves a TCP listener
(``pqiot agent --listen``), in-memory tests, and anything else that moves
bytes. Primitives go to :class:`pqiot.vectors.agent.ReferenceAgent` (the same
code the vector verifiers trust), protocol roles to
:mod:`pqiot.reference.tap.roles` (the production :class:`~pqiot.reference.session.Session`).
Measurement on the host is wall-clock nanoseconds, labelled ``host-ns`` as
REQ-TAP-018 requires: never reported as cycles of a device.

All sessions write to one audit log whose sink is a bounded buffer that the
optional AUDIT_READ command drains (§13.3, REQ-TAP-021). Session timers run on
the injected ``clock`` (seconds, wall time) before every command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pqiot.reference import suites as suite_registry
from pqiot.reference.audit import AuditLog
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto.kmac import kmac256
from pqiot.reference.tap.arguments import AgentFailure, Arguments
from pqiot.reference.tap.audit_buffer import DEFAULT_AUDIT_CAPACITY, AuditBuffer
from pqiot.reference.tap.codes import (
    ACCUMULATED_MAX_N,
    MEASURED_EXEMPT,
    PRIMITIVE_BYTE_ARG_LIMIT,
    PRIMITIVE_BYTE_ARGS,
    TAP_VERSION,
    XOF_MAX_LEN,
    Command,
    Status,
)
from pqiot.reference.tap.messages import (
    RequestRejected,
    TapRequest,
    TapResponse,
    decode_request,
    encode_response,
)
from pqiot.reference.tap.roles import RoleDriver

if TYPE_CHECKING:
    from pqiot.vectors.agent import ReferenceAgent

__all__ = ["AgentLimits", "ReferenceTestAgent"]

_PRIMITIVE_LIMITS = dict.fromkeys(PRIMITIVE_BYTE_ARGS, PRIMITIVE_BYTE_ARG_LIMIT)
_HASH_LENGTHS = {-16: 32, -43: 48}
_PRIMITIVE_NAMES = (
    "ml-kem-512",
    "ml-kem-768",
    "ml-kem-1024",
    "ml-dsa-44",
    "ml-dsa-65",
    "ml-dsa-87",
    "a256gcm",
    "aes-ccm-16-64-128",
    "aes-ccm-16-128-128",
    "chacha20-poly1305",
    "hkdf-sha256",
    "hkdf-sha384",
    "kmac256",
    "sha256",
    "sha384",
    "sha512",
    "sha3-256",
    "sha3-512",
    "shake128",
    "shake256",
)


@dataclass(frozen=True)
class AgentLimits:
    """The limits the agent declares in IDENTIFY and enforces."""

    max_tap_request: int = 65536
    max_tap_response: int = 65536
    max_hs_message: int = 16384
    max_record_plaintext: int = 16384


class ReferenceTestAgent:
    """Answer TAP requests with the reference implementation (build ``"test"``, host)."""

    def __init__(
        self,
        *,
        firmware: str = "reference",
        limits: AgentLimits | None = None,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
        clock: Callable[[], float] = time.time,
        audit_capacity: int = DEFAULT_AUDIT_CAPACITY,
    ) -> None:
        self.firmware = firmware
        self.limits = limits or AgentLimits()
        self._clock_ns = clock_ns
        self._audit_buffer = AuditBuffer(audit_capacity)
        self._roles = RoleDriver(
            self.limits.max_hs_message,
            self.limits.max_record_plaintext,
            clock=clock,
            audit=AuditLog(self._audit_buffer, clock=clock),
        )
        self._measurement: dict[str, CborValue] | None = None
        # Set by RESET "all"/"factory": the reset drops the last measurement (REQ-TAP-016)
        # and does not become the new one.
        self._cleared = False
        self._handlers: dict[int, Callable[[Arguments], dict[str, CborValue]]] = {
            Command.IDENTIFY: lambda _args: self.identity(),
            Command.RESET: self._reset,
            Command.ECHO: lambda args: {"data": args.bytes_("data")},
            Command.MLKEM_KEYGEN: self._mlkem_keygen,
            Command.MLKEM_ENCAPS: self._mlkem_encaps,
            Command.MLKEM_DECAPS: self._mlkem_decaps,
            Command.SIG_KEYGEN: self._sig_keygen,
            Command.SIG_SIGN: self._sig_sign,
            Command.SIG_VERIFY: self._sig_verify,
            Command.AEAD_SEAL: self._aead_seal,
            Command.AEAD_OPEN: self._aead_open,
            Command.HKDF: self._hkdf,
            Command.KMAC: self._kmac,
            Command.HASH: self._hash,
            Command.ACCUMULATED: self._accumulated,
            Command.MEASURE: self._measure,
            Command.AUDIT_READ: lambda _args: self._audit_buffer.read(self.limits.max_tap_response),
            **self._roles.handlers(),
        }

    # -- the one entry point ------------------------------------------------------

    def handle(self, message: bytes) -> bytes:
        """One request in, one response out; never raises for any input (REQ-TAP-005)."""
        return encode_response(self.respond(message))

    def respond(self, message: bytes) -> TapResponse:
        try:
            request = decode_request(message, self.limits.max_tap_request)
        except RequestRejected as exc:
            return TapResponse(exc.request_id, exc.status, {"error": exc.detail})
        response = self._execute(request)
        if len(encode_response(response)) > self.limits.max_tap_response:
            return TapResponse(
                request.request_id,
                Status.TOO_LARGE,
                {"error": f"result exceeds max_tap_response {self.limits.max_tap_response}"},
            )
        return response

    def _execute(self, request: TapRequest) -> TapResponse:
        handler = self._handlers.get(request.command)
        if handler is None:
            return TapResponse(
                request.request_id,
                Status.UNKNOWN_COMMAND,
                {"error": f"command {request.command} is not implemented"},
            )
        primitive = Command.MLKEM_KEYGEN <= request.command <= Command.ACCUMULATED
        args = Arguments(request.args, _PRIMITIVE_LIMITS if primitive else {})
        measured = request.command not in MEASURED_EXEMPT
        self._cleared = False
        try:
            self._roles.run_timers()  # expiry is observable by any command (REQ-HS-037)
        except Exception as exc:  # REQ-TAP-005: report, stay operational
            return TapResponse(
                request.request_id,
                Status.INTERNAL,
                {"error": f"running session timers: {type(exc).__name__}: {exc}"},
            )
        start = self._clock_ns()
        try:
            result = handler(args)
            status = Status.OK
        except AgentFailure as failure:
            result, status = failure.result, failure.status
        except Exception as exc:  # REQ-TAP-005: report, stay operational
            result, status = {"error": f"{type(exc).__name__}: {exc}"}, Status.INTERNAL
        if measured and not self._cleared:
            self._measurement = {
                "cmd": request.command,
                "cycles": max(self._clock_ns() - start, 0),
                "cycle_source": "host-ns",
                "cycles_overflow": False,
                "clock_hz": 1_000_000_000,
                "stack_bytes": None,
            }
        return TapResponse(request.request_id, status, result)

    # -- identity and housekeeping -------------------------------------------------

    def identity(self) -> dict[str, CborValue]:
        """The conformance statement (§13.4); lists only what this agent implements."""
        suites: list[CborValue] = [s.id for s in suite_registry.all_suites() if s.is_kem]
        commands: list[CborValue] = [int(c) for c in sorted(self._handlers)]
        return {
            "tap": TAP_VERSION,
            "protocol": 1,
            "spec": "1.0.0-draft",
            "vendor": "pqiot",
            "product": "pqiot reference agent (host)",
            "firmware": self.firmware,
            "build": "test",
            "suites": suites,
            "methods": [0],
            "roles": ["initiator", "responder"],
            "bindings": ["tcp"],
            "features": ["msg4", "suite-retry", "key-update"],
            "commands": commands,
            "primitives": list(_PRIMITIVE_NAMES),
            "max_hs_message": self.limits.max_hs_message,
            "max_record_plaintext": self.limits.max_record_plaintext,
            "max_tap_request": self.limits.max_tap_request,
            "max_tap_response": self.limits.max_tap_response,
            "serial_mtu": 0,
            "replay_window": 64,
            "persist_k": 32,
            "measure": {"cycles": "host-ns", "stack": "none", "clock_hz": 1_000_000_000},
        }

    def _reset(self, args: Arguments) -> dict[str, CborValue]:
        scope = args.text("scope", default="all")
        if scope not in ("sessions", "all", "factory"):
            raise AgentFailure(Status.INVALID_INPUT, f"scope {scope!r} is not sessions/all/factory")
        self._roles.reset(scope)
        if scope != "sessions":
            self._audit_buffer.clear()
            self._measurement = None
            self._cleared = True
        return {}

    def _measure(self, _args: Arguments) -> dict[str, CborValue]:
        if self._measurement is None:
            raise AgentFailure(Status.INVALID_STATE, "no command has been measured yet")
        return dict(self._measurement)

    # -- primitives -----------------------------------------------------------------

    @staticmethod
    def _primitives() -> ReferenceAgent:
        from pqiot.vectors.agent import ReferenceAgent

        return ReferenceAgent()

    def _call(self, operation: Callable[[], dict[str, CborValue]]) -> dict[str, CborValue]:
        from pqiot.vectors.agent import InputRejected, Unsupported

        try:
            return operation()
        except Unsupported as exc:
            raise AgentFailure(Status.UNSUPPORTED, str(exc)) from None
        except InputRejected as exc:
            raise AgentFailure(Status.INVALID_INPUT, str(exc)) from None

    def _kem_set(self, args: Arguments) -> int:
        value = args.int_("set")
        if value not in (512, 768, 1024):
            raise AgentFailure(Status.UNSUPPORTED, f"ML-KEM set {value} is not 512, 768 or 1024")
        return value

    def _mlkem_keygen(self, args: Arguments) -> dict[str, CborValue]:
        set_, d, z = self._kem_set(args), args.bytes_("d", size=32), args.bytes_("z", size=32)

        def run() -> dict[str, CborValue]:
            ek, dk = self._primitives().mlkem_keygen(set_, d, z)
            return {"ek": ek, "dk": dk}

        return self._call(run)

    def _mlkem_encaps(self, args: Arguments) -> dict[str, CborValue]:
        set_, ek, m = self._kem_set(args), args.bytes_("ek"), args.bytes_("m", size=32)

        def run() -> dict[str, CborValue]:
            c, k = self._primitives().mlkem_encaps(set_, ek, m)
            return {"c": c, "k": k}

        return self._call(run)

    def _mlkem_decaps(self, args: Arguments) -> dict[str, CborValue]:
        set_, dk, c = self._kem_set(args), args.bytes_("dk"), args.bytes_("c")
        return self._call(lambda: {"k": self._primitives().mlkem_decaps(set_, dk, c)})

    def _sig_keygen(self, args: Arguments) -> dict[str, CborValue]:
        alg, seed = args.int_("alg"), args.bytes_("seed")

        def run() -> dict[str, CborValue]:
            pk, sk = self._primitives().sig_keygen(alg, seed)
            return {"pk": pk, "sk": sk}

        return self._call(run)

    def _sig_sign(self, args: Arguments) -> dict[str, CborValue]:
        alg, sk, msg = args.int_("alg"), args.bytes_("sk"), args.bytes_("msg")
        ctx = args.bytes_("ctx", default=b"")
        rnd = args.bytes_("rnd", size=32, default=bytes(32))
        return self._call(lambda: {"sig": self._primitives().sig_sign(alg, sk, msg, ctx, rnd)})

    def _sig_verify(self, args: Arguments) -> dict[str, CborValue]:
        alg, pk, msg, sig = (
            args.int_("alg"),
            args.bytes_("pk"),
            args.bytes_("msg"),
            args.bytes_("sig"),
        )
        ctx = args.bytes_("ctx", default=b"")
        return self._call(lambda: {"valid": self._primitives().sig_verify(alg, pk, msg, sig, ctx)})

    def _aead_seal(self, args: Arguments) -> dict[str, CborValue]:
        alg, key, nonce = args.int_("alg"), args.bytes_("key"), args.bytes_("nonce")
        aad, pt = args.bytes_("aad"), args.bytes_("pt")
        return self._call(lambda: {"ct": self._primitives().aead_seal(alg, key, nonce, aad, pt)})

    def _aead_open(self, args: Arguments) -> dict[str, CborValue]:
        alg, key, nonce = args.int_("alg"), args.bytes_("key"), args.bytes_("nonce")
        aad, ct = args.bytes_("aad"), args.bytes_("ct")

        def run() -> dict[str, CborValue]:
            pt = self._primitives().aead_open(alg, key, nonce, aad, ct)
            return {"valid": False} if pt is None else {"valid": True, "pt": pt}

        return self._call(run)

    def _hkdf(self, args: Arguments) -> dict[str, CborValue]:
        hash_alg = args.int_("hash")
        if hash_alg not in _HASH_LENGTHS:
            raise AgentFailure(Status.UNSUPPORTED, f"HKDF hash {hash_alg} is not -16 or -43")
        mode = args.text("mode", default="full")
        if mode not in ("full", "extract", "expand"):
            raise AgentFailure(
                Status.INVALID_INPUT, f"HKDF mode {mode!r} is not full/extract/expand"
            )
        salt = ikm = prk = info = b""
        length = 0
        if mode in ("full", "extract"):
            salt, ikm = args.bytes_("salt"), args.bytes_("ikm")
        if mode in ("full", "expand"):
            info = args.bytes_("info")
            length = args.uint("len", maximum=255 * _HASH_LENGTHS[hash_alg])
        if mode == "expand":
            prk = args.bytes_("prk")
        return self._call(
            lambda: {
                "okm": self._primitives().hkdf(
                    hash_alg, mode, salt=salt, ikm=ikm, prk=prk, info=info, length=length
                )
            }
        )

    def _kmac(self, args: Arguments) -> dict[str, CborValue]:
        variant = args.int_("variant")
        key, data = args.bytes_("key"), args.bytes_("data")
        length = args.uint("len", maximum=XOF_MAX_LEN)
        custom = args.bytes_("custom", default=b"")
        if variant != 256:
            raise AgentFailure(Status.UNSUPPORTED, f"KMAC{variant} is not implemented (KMAC256 is)")
        return {"mac": kmac256(key, data, length, custom)}

    def _hash(self, args: Arguments) -> dict[str, CborValue]:
        alg, data = args.text("alg"), args.bytes_("data")
        length = args.uint("len", maximum=XOF_MAX_LEN) if args.has("len") else None
        return self._call(lambda: {"digest": self._primitives().hash(alg, data, length)})

    def _accumulated(self, args: Arguments) -> dict[str, CborValue]:
        prim = args.text("prim")
        n = args.uint("n", maximum=ACCUMULATED_MAX_N)
        return self._call(lambda: {"digest": self._primitives().accumulated(prim, n), "n": n})
