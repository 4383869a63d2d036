"""Test Agent rules (spec §13.5, §13.6, §13.8): fixed randomness, stack measurement, no debug.

REQ-TAP-014 is checked against the reference itself: a reference session
("twin") given the same fixed inputs as the device (``kem_seed`` / ``kem_m``,
``c_id``, ``sig_rnd``, KEY_UPDATE ``nonce``) must put exactly the same bytes
on the wire, against a tester whose own randomness is fixed as well. The
device runs twice, so a device that ignores the inputs cannot pass by luck.
"""

from __future__ import annotations

from typing import Any

import pytest

from pqiot.conformance.conversation import other_role, provision
from pqiot.conformance.device import Device
from pqiot.conformance.peer import Party, suite_parties
from pqiot.reference import cbor
from pqiot.reference.credentials import Credential
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.keystore import KeyStore
from pqiot.reference.session import KIND_HANDSHAKE, KIND_RECORD, Session
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.tap.codes import Command, Status

SUITE = -102
_ROUNDS = 8
#: (kem input, c_id, sig_rnd) per role; the initiator's kem input is d || z, the responder's m.
_FIXED = {
    "initiator": (bytes(range(64)), b"\xa7\x01", bytes([0x11] * 32)),
    "responder": (bytes(range(100, 132)), b"\xa7\x02", bytes([0x22] * 32)),
}
_UPDATE_NONCE = bytes(range(0x30, 0x40))
_DATA = b"deterministic record"


class _Stream:
    """Randomness that is exactly the given bytes, read in order; more is a test error."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __call__(self, n: int) -> bytes:
        if n > len(self._data):
            raise AssertionError(f"the reference drew {n} random bytes beyond the fixed inputs")
        out, self._data = self._data[:n], self._data[n:]
        return out


def _fixed_session(role: str, own: Party, trusted: Credential) -> Session:
    """A reference session whose every random draw is one of the fixed inputs of ``role``."""
    kem, c_id, sig_rnd = _FIXED[role]
    provider = SoftwareSecurityProvider(rng=lambda n: sig_rnd[:n])
    key = provider.add_signature_key(
        "own", own.credential.algorithm, own.private_key, own.credential.public_key
    )
    store = KeyStore()
    store.add(trusted)
    config = HandshakeConfig(
        role="initiator" if role == "initiator" else "responder",
        method=0,
        suites=[SUITE],
        credential=own.credential,
        key=key,
        provider=provider,
        resolver=store,
        connection_id=c_id,
        rng=_Stream(kem),
    )
    handshake = Initiator(config) if role == "initiator" else Responder(config)
    session = Session(handshake, rng=_Stream(_UPDATE_NONCE))
    session.start(0.0)
    return session


def _payloads(session: Session, kind: int) -> list[bytes]:
    return [p[1:] for p in session.data_to_send() if p and p[0] == kind]


def _twin_transcript(role: str) -> list[bytes]:
    """What the reference sends in ``role`` with the fixed inputs (handshake, data, key_update)."""
    parties = suite_parties(SUITE)
    twin = _fixed_session(role, parties[role], parties[other_role(role)].credential)
    tester = _fixed_session(other_role(role), parties[other_role(role)], parties[role].credential)
    sent: list[bytes] = []
    out, to_twin = _payloads(twin, KIND_HANDSHAKE), _payloads(tester, KIND_HANDSHAKE)
    for _ in range(_ROUNDS):
        sent += out
        for message in out:
            tester.receive(bytes([KIND_HANDSHAKE]) + message, 0.0)
        to_twin += _payloads(tester, KIND_HANDSHAKE)
        out = []
        for message in to_twin:
            twin.receive(bytes([KIND_HANDSHAKE]) + message, 0.0)
            out += _payloads(twin, KIND_HANDSHAKE)
        to_twin = []
        if not out:
            break
    twin.send(_DATA, 0.0)
    twin.update_keys(0.0)
    return sent + _payloads(twin, KIND_RECORD)


def _device_transcript(device: Device, role: str) -> list[bytes]:
    """The same conversation with the device in ``role`` (fixed inputs through SESSION_START)."""
    parties = suite_parties(SUITE)
    kid, tester_party = provision(device, SUITE, role)
    tester = _fixed_session(other_role(role), tester_party, parties[role].credential)
    kem, c_id, sig_rnd = _FIXED[role]
    fixed: dict[str, Any] = {"c_id": c_id, "sig_rnd": sig_rnd}
    fixed["kem_seed" if role == "initiator" else "kem_m"] = kem
    session, out = device.client.session_start(role, 0, [SUITE], cred=kid, **fixed)
    sent: list[bytes] = []
    to_device = _payloads(tester, KIND_HANDSHAKE)
    for _ in range(_ROUNDS):
        sent += out
        for message in out:
            tester.receive(bytes([KIND_HANDSHAKE]) + message, 0.0)
        to_device += _payloads(tester, KIND_HANDSHAKE)
        out = []
        for message in to_device:
            replies, _ = device.client.session_deliver(session, message)
            out += replies
        to_device = []
        if not out:
            break
    sent += device.client.app_send(session, _DATA)
    sent += device.client.key_update(session, _UPDATE_NONCE)
    return sent


def _first_difference(a: bytes, b: bytes) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


@pytest.mark.requirement("REQ-TAP-014")
def test_fixed_randomness_gives_the_reference_bytes(
    device: Device, device_role: str, evidence: dict[str, Any]
) -> None:
    """Handshake messages, a record and a key_update: byte-identical to the reference twin."""
    expected = _twin_transcript(device_role)
    first = _device_transcript(device, device_role)
    second = _device_transcript(device, device_role)
    evidence.update(messages=[len(m) for m in first], expected=[len(m) for m in expected])
    assert first == second, "two runs with identical fixed inputs produced different bytes"
    assert len(first) == len(expected), (
        f"the device sent {len(first)} messages, the reference {len(expected)}"
    )
    for index, (got, want) in enumerate(zip(first, expected, strict=True)):
        assert got == want, (
            f"message #{index} ({len(got)} bytes) differs from the reference's ({len(want)} "
            f"bytes) from byte {_first_difference(got, want)} on"
        )


# -- REQ-TAP-019: stack measurement ---------------------------------------------------------


@pytest.mark.requirement("REQ-TAP-019")
def test_stack_bytes_follows_the_declared_method(
    device: Device, metrics: list[dict[str, Any]]
) -> None:
    """``stack: "none"`` reports null; ``"paint"`` a positive count that repeats exactly.

    Painting measures the deepest stack use of a fixed code path, so the same
    deterministic primitive on the same input must give the same number twice.
    Whether the number is the true peak is not observable from outside.
    """
    measure = device.identity.get("measure")
    assert isinstance(measure, dict), "IDENTIFY must carry a measure map"
    if measure.get("cycles") == "none":
        pytest.skip("not applicable: measure.cycles is none, so nothing is measured")
    readings = []
    for _ in range(2):
        device.client.hash("sha256", b"stack painting probe")
        result = device.client.call(Command.MEASURE)
        assert result.get("cmd") == Command.HASH, f"MEASURE reports command {result.get('cmd')!r}"
        assert "stack_bytes" in result, "MEASURE must return stack_bytes (null when not painted)"
        readings.append(result["stack_bytes"])
    if measure.get("stack") == "none":
        assert readings == [None, None], f"stack 'none' must report null, got {readings}"
        return
    assert measure.get("stack") == "paint", f"unknown stack method {measure.get('stack')!r}"
    assert all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in readings), (
        f"painted stack use must be a positive integer, got {readings}"
    )
    assert readings[0] == readings[1], f"same primitive, same input, different peaks: {readings}"
    metrics.append({"name": "sha256_stack_bytes", "value": readings[0], "unit": "B"})


# -- REQ-TAP-020: no debug or fault-injection commands -------------------------------------------


_PROBES = [*range(256), 256, 1000, 4096, 65535, 65536, 2**32 - 1]


@pytest.mark.requirement("REQ-TAP-020", "REQ-TAP-005")
def test_no_command_outside_the_spec_table(device: Device, evidence: dict[str, Any]) -> None:
    """Every code missing from §13.3 is ``unknown_command``; IDENTIFY lists only §13.3 codes."""
    defined = {int(c) for c in Command}
    declared = device.identity.get("commands")
    assert isinstance(declared, list)
    extra = [c for c in declared if not isinstance(c, int) or c not in defined]
    assert not extra, f"IDENTIFY declares commands outside §13.3: {extra}"
    answered = {}
    for request_id, code in enumerate(c for c in _PROBES if c not in defined):
        response = device.raw(cbor.encode([code, request_id, {}]))
        if response.status != Status.UNKNOWN_COMMAND:
            answered[code] = (response.status, response.result)
    evidence["answered"] = {str(k): v[0] for k, v in answered.items()}
    assert not answered, f"codes outside §13.3 are implemented (not status 1): {answered}"
    assert device.alive(), "the device must still answer ECHO after the probe"
