"""Conversations between the device and the reference, tlsfuzzer style.

A positive conversation runs a handshake to DONE and exchanges records. A
negative one sends a possibly malformed message and expects *exactly* an
alert, or one of a few listed alternatives; the suite runs a sanity handshake
before and after it, so a device that survives by accident is told apart from
one that recovers (REQ-ERR-007, REQ-TAP-005).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pqiot.conformance.device import Device, load_key
from pqiot.conformance.peer import Party, ReferencePeer, suite_parties
from pqiot.hil.client import StatusError
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.credentials import Credential
from pqiot.reference.session import ApplicationData
from pqiot.reference.tap.codes import Command, Status

__all__ = [
    "HandshakeRun",
    "error_message",
    "expect_alert",
    "expect_status",
    "other_role",
    "provision",
    "run_handshake",
    "start_session",
]

_MAX_ROUNDS = 8


def other_role(role: str) -> str:
    return "responder" if role == "initiator" else "initiator"


@dataclass
class HandshakeRun:
    """A finished (or deliberately stopped) device <-> reference handshake."""

    device: Device
    session: int
    peer: ReferencePeer
    suite: int
    device_role: str
    transcript: list[tuple[str, bytes]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def wire_bytes(self) -> int:
        return sum(len(m) for _, m in self.transcript)

    def to_device(self, data: bytes) -> bytes:
        """Send application data reference -> device; returns what the device received."""
        record = self.peer.protect(data)
        content_type, received, _ = self.device.client.app_receive(self.session, record)
        assert content_type == 1, f"content type {content_type} for application_data"
        return received

    def from_device(self, data: bytes) -> bytes:
        """Send application data device -> reference; returns what the reference received."""
        records = self.device.client.app_send(self.session, data)
        assert len(records) == 1, f"APP_SEND produced {len(records)} records, expected 1"
        received = [
            e.data for e in self.peer.unprotect(records[0]) if isinstance(e, ApplicationData)
        ]
        assert received, "the reference did not accept the device's record"
        return received[0]


def _sessions_reset_is_full(device: Device) -> bool:
    """RESET "sessions" now, and say whether it reached what RESET "all" plus reloading would.

    Both leave the same credentials and no session (REQ-TAP-016); they differ only in
    the audit buffer and the last measurement. A test measures only what it ran itself.
    On a device with AUDIT_READ, reading the buffer empty gives what RESET "all" gives
    (§13.9; loading a credential emits no event, §9.2), unless events were lost: their
    count then waits for the next event, and only RESET "all" clears it. A loss an
    earlier read reported already ended the reuse (:attr:`Device.loaded`).
    """
    device.client.reset("sessions")
    if not device.declares("commands", int(Command.AUDIT_READ)):
        return True
    try:
        drained = device.client.audit_read_all()
    except StatusError:
        return False  # REQ-TAP-021 is its own test's business; here the full RESET is the answer
    return drained.lost == 0 and not drained.more


def provision(
    device: Device, suite: int, device_role: str, *, peer_credential: Credential | None = None
) -> tuple[bytes, Party]:
    """RESET the device, load its own and the tester's credential; return (own kid, tester).

    When the device provably holds exactly these two credentials, loaded in this order
    since its last RESET "all" and with nothing since that RESET "sessions" would not
    undo (:attr:`Device.loaded`), RESET "sessions" reaches the same state without
    sending the credentials again.
    """
    parties = suite_parties(suite)
    mine, tester = parties[device_role], parties[other_role(device_role)]
    own: dict[str, CborValue] = {"slot": "own", "ccs": mine.credential.cred, "sk": mine.private_key}
    peer: dict[str, CborValue] = {
        "slot": "peer",
        "ccs": (peer_credential or tester.credential).cred,
    }
    loaded = device.loaded
    if (
        loaded is not None
        and [key for key, _ in loaded] == [load_key(own), load_key(peer)]
        and _sessions_reset_is_full(device)
    ):
        return loaded[0][1], tester
    device.client.reset("all")
    kid = device.client.cred_load("own", ccs=own["ccs"], sk=own["sk"])
    device.client.cred_load("peer", ccs=peer["ccs"])
    return kid, tester


def start_session(
    device: Device, role: str, suites: list[int], **options: Any
) -> tuple[int, list[bytes]]:
    """SESSION_START with fresh ephemeral randomness supplied by the tester.

    Why always supply it: §13.5 lets a DUT without an entropy source take
    ``kem_seed`` / ``kem_m`` from the host (the reference firmware has none),
    and fresh random values per session keep SUITE-006's freshness. A device
    with its own RNG accepts them too.
    """
    if role == "initiator":
        options.setdefault("kem_seed", os.urandom(64))
    else:
        options.setdefault("kem_m", os.urandom(32))
    return device.client.session_start(role, 0, suites, **options)


def run_handshake(
    device: Device,
    suite: int,
    device_role: str,
    *,
    device_suites: list[int] | None = None,
    tester: Party | None = None,
    tester_by_value: bool = False,
    msg4: bool = False,
    tamper: Callable[[int, bytes], bytes] | None = None,
    start_options: Mapping[str, Any] | None = None,
) -> HandshakeRun:
    """Provision and run one method-0 handshake with messages carried in TAP ``out``.

    ``tamper(index, message)`` may rewrite the n-th message the reference sends
    (0-based) before the device sees it. ``start_options`` are extra SESSION_START
    arguments (e.g. ``limits``, §13.5). A device alert propagates as
    :class:`~pqiot.hil.client.StatusError`, for negative tests to inspect.
    """
    kid, default_tester = provision(device, suite, device_role)
    tester = tester or default_tester
    own = suite_parties(suite)[device_role]
    peer = ReferencePeer(
        other_role(device_role),
        [suite],
        tester,
        [own.credential],
        by_value=tester_by_value,
        message_4=msg4,
    )
    started = time.perf_counter()
    options: dict[str, Any] = {"cred": kid, **(start_options or {})}
    if msg4:
        options["msg4"] = True
    session, out = start_session(device, device_role, device_suites or [suite], **options)
    run = HandshakeRun(device, session, peer, suite, device_role)
    to_device = peer.handshake_out()
    sent = 0
    for _ in range(_MAX_ROUNDS):
        for message in out:
            run.transcript.append(("device", message))
            to_device += peer.deliver(message)
        out = []
        for message in to_device:
            if tamper is not None:
                message = tamper(sent, message)
            sent += 1
            run.transcript.append(("reference", message))
            replies, _state = device.client.session_deliver(session, message)
            out += replies
        to_device = []
        if not out:
            break
    run.seconds = time.perf_counter() - started
    return run


def expect_status(
    call: Callable[[], object], statuses: Collection[int], what: str
) -> dict[str, Any]:
    """The call must be refused with one of ``statuses``; returns the refusal's result map."""
    try:
        result = call()
    except StatusError as exc:
        assert exc.status in statuses, (
            f"{what}: expected status {sorted(statuses)}, got {exc.status}: {exc.result}"
        )
        return dict(exc.result)
    raise AssertionError(
        f"{what}: expected status {sorted(statuses)}, the device accepted: {result!r}"
    )


def expect_alert(call: Callable[[], object], alerts: Collection[str], what: str) -> dict[str, Any]:
    """The call must end in a protocol alert (status 7) named one of ``alerts``."""
    result = expect_status(call, {Status.PROTOCOL_ALERT}, what)
    assert result.get("alert") in alerts, (
        f"{what}: expected alert {' or '.join(sorted(alerts))}, got {result.get('alert')!r} "
        f"({result.get('detail')!r})"
    )
    return result


def error_message(out: object) -> tuple[int, object]:
    """(ERR_CODE, ERR_INFO) of the single EDHOC error message in ``out`` (REQ-HS-019)."""
    assert isinstance(out, list) and len(out) == 1, (
        f"expected exactly one EDHOC error message on the wire, got {out!r}"
    )
    items = cbor.decode_sequence(bytes(out[0]))
    assert len(items) == 2, f"an error message has exactly two CBOR items, got {len(items)}"
    code, info = items
    assert isinstance(code, int), f"ERR_CODE must be an int, got {code!r}"
    return code, info
