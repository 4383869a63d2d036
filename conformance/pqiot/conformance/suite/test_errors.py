"""Alert names and alert details on the wire (spec chapter 10).

One provocation per alert the device can raise in a handshake with the tester;
each must name one of the fourteen alerts of §10.2 in the TAP result and, for
ERR_CODE 1, in ERR_INFO (REQ-ERR-001), and the details of
``authentication_failed`` / ``decrypt_failed`` must not carry the MACs, tags or
keys the device computed (REQ-ERR-009), which the tester knows from its trace.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pqiot.conformance.conversation import error_message
from pqiot.conformance.device import Device
from pqiot.conformance.handshake_probes import (
    ALERT_NAMES,
    Outcome,
    TracedPeer,
    alert_in_err_info,
    check_err_info_format,
    deliver,
    device_initiator,
    device_responder,
    initiator_peer_for,
    responder_peer_for,
)
from pqiot.conformance.peer import stranger, suite_parties
from pqiot.reference import cbor
from pqiot.reference.edhoc.wire import EadItem
from pqiot.reference.tap.codes import Status

pytestmark = pytest.mark.conversation
SUITE = -102

Provocation = Callable[[Device], tuple[Outcome, dict[str, bytes]]]


def _responder(device: Device) -> tuple[int, TracedPeer, bytes]:
    """Device Responder after message_1; the traced initiator now holds message_3."""
    session, _ = device_responder(device, SUITE)
    peer = initiator_peer_for(SUITE)
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    return session, peer, peer.deliver(out[0])[0]


def _truncated_message_1(device: Device) -> tuple[Outcome, dict[str, bytes]]:
    session, _ = device_responder(device, SUITE)
    message_1 = initiator_peer_for(SUITE).handshake_out()[0]
    return deliver(device, session, message_1[:600]), {}


def _method_3(device: Device) -> tuple[Outcome, dict[str, bytes]]:
    session, _ = device_responder(device, SUITE)
    message_1 = initiator_peer_for(SUITE).handshake_out()[0]
    return deliver(device, session, b"\x03" + message_1[1:]), {}


def _critical_ead(device: Device) -> tuple[Outcome, dict[str, bytes]]:
    session, _ = device_responder(device, SUITE)
    message_1 = initiator_peer_for(SUITE, ead=[EadItem(-5, None)]).handshake_out()[0]
    return deliver(device, session, message_1), {}


def _tampered_message_3(device: Device) -> tuple[Outcome, dict[str, bytes]]:
    session, peer, message_3 = _responder(device)
    tampered = message_3[:-1] + bytes([message_3[-1] ^ 0x01])
    secrets = {k: peer.trace[k] for k in ("K_3", "IV_3", "TH_3", "PRK_3e2m", "TH_2", "G_XY")}
    secrets["expected tag"] = message_3[-16:]
    secrets["received tag"] = tampered[-16:]
    return deliver(device, session, tampered), secrets


def _bad_signature_in_message_2(device: Device) -> tuple[Outcome, dict[str, bytes]]:
    """Flipping the last byte of message_2 flips the last signature byte (XOR keystream)."""
    session, message_1 = device_initiator(device, SUITE)
    peer = responder_peer_for(SUITE)
    message_2 = peer.deliver(message_1)[0]
    tampered = message_2[:-1] + bytes([message_2[-1] ^ 0x01])
    names = ("MAC_2", "TH_2", "PRK_2e", "PRK_3e2m", "G_XY", "context_2")
    secrets = {k: peer.trace[k] for k in names}
    secrets["signature"] = peer.trace["Signature_or_MAC_2"]
    return deliver(device, session, tampered), secrets


def _by_value_stranger(device: Device) -> tuple[Outcome, dict[str, bytes]]:
    session, _ = device_responder(device, SUITE)
    peer = TracedPeer(
        "initiator",
        [SUITE],
        stranger(),
        [suite_parties(SUITE)["responder"].credential],
        by_value=True,
    )
    out, _ = device.client.session_deliver(session, peer.handshake_out()[0])
    return deliver(device, session, peer.deliver(out[0])[0]), {}


def _invalid_g_x(device: Device) -> tuple[Outcome, dict[str, bytes]]:
    """G_X whose first ML-KEM coefficient is 4095 (>= q): decode_error (REQ-SUITE-007)."""
    session, _ = device_responder(device, SUITE)
    items = cbor.decode_sequence(initiator_peer_for(SUITE).handshake_out()[0])
    g_x = bytearray(items[2])  # type: ignore[arg-type]
    g_x[0], g_x[1] = 0xFF, g_x[1] | 0x0F
    items[2] = bytes(g_x)
    return deliver(device, session, cbor.encode_sequence(*items)), {}


def _message_1_to_initiator(device: Device) -> tuple[Outcome, dict[str, bytes]]:
    session, _ = device_initiator(device, SUITE)
    return deliver(device, session, initiator_peer_for(SUITE).handshake_out()[0]), {}


_CASES: list[tuple[str, Provocation, str, str]] = [
    ("truncated-message-1", _truncated_message_1, "decode_error", "responder"),
    ("method-3", _method_3, "unsupported_method", "responder"),
    ("critical-ead", _critical_ead, "unspecified_error", "responder"),
    ("invalid-g-x", _invalid_g_x, "decode_error", "responder"),
    ("tampered-message-3", _tampered_message_3, "decrypt_failed", "responder"),
    ("bad-signature-message-2", _bad_signature_in_message_2, "authentication_failed", "initiator"),
    ("stranger-by-value", _by_value_stranger, "tofu_disabled", "responder"),
    ("message-1-in-wait-m2", _message_1_to_initiator, "unexpected_message", "initiator"),
]


def _run(device: Device, provoke: Provocation, role: str) -> tuple[Outcome, dict[str, bytes]]:
    if role not in device.statement.roles:
        pytest.skip(f"not applicable: role {role} not declared")
    return provoke(device)


_PARAMS = [pytest.param(p, a, r, id=name) for name, p, a, r in _CASES]


@pytest.mark.requirement("REQ-ERR-001", "REQ-ERR-003", "REQ-TAP-013")
@pytest.mark.parametrize(("provoke", "alert", "role"), _PARAMS)
def test_every_raised_alert_has_one_of_the_fourteen_names(
    device: Device, provoke: Provocation, alert: str, role: str
) -> None:
    outcome, _ = _run(device, provoke, role)
    assert outcome.status == Status.PROTOCOL_ALERT, f"expected an alert, got {outcome.summary()}"
    assert outcome.alert in ALERT_NAMES, f"TAP alert {outcome.alert!r} is not a §10.2 alert name"
    code, info = error_message(outcome.result.get("out"))
    assert code == 1, f"expected ERR_CODE 1 for {alert}, got {code}"
    name = alert_in_err_info(info)
    assert name in ALERT_NAMES, f"ERR_INFO {info!r} names {name!r}, not a §10.2 alert"
    assert name == outcome.alert == alert, (
        f"expected {alert}; ERR_INFO names {name!r}, TAP reports {outcome.alert!r}"
    )


@pytest.mark.requirement("REQ-HS-019")
@pytest.mark.parametrize(("provoke", "alert", "role"), _PARAMS)
def test_err_info_is_the_alert_name_and_a_short_detail(
    device: Device, provoke: Provocation, alert: str, role: str
) -> None:
    """ERR_INFO = "<alert_name>" or "<alert_name>: <detail>", at most 128 bytes (§10.1)."""
    outcome, _ = _run(device, provoke, role)
    code, info = error_message(outcome.result.get("out"))
    assert code == 1, f"expected ERR_CODE 1 for {alert}, got {code}"
    check_err_info_format(info)


def _leaks(text: str, secret: bytes) -> bool:
    """Whether any 8-byte window of ``secret`` appears in ``text`` as hex or raw bytes."""
    lowered = text.lower()
    raw = text.encode("utf-8", "surrogateescape")
    for start in range(0, max(len(secret) - 7, 1)):
        window = secret[start : start + 8]
        if len(window) < 8:
            break
        if window.hex() in lowered or window in raw:
            return True
    return False


@pytest.mark.requirement("REQ-ERR-009", "REQ-HS-024")
@pytest.mark.parametrize(
    ("provoke", "role"),
    [
        pytest.param(_tampered_message_3, "responder", id="decrypt_failed"),
        pytest.param(_bad_signature_in_message_2, "initiator", id="authentication_failed"),
    ],
)
def test_alert_details_do_not_reveal_computed_values(
    device: Device, provoke: Provocation, role: str
) -> None:
    outcome, secrets = _run(device, provoke, role)
    assert outcome.status == Status.PROTOCOL_ALERT, outcome.summary()
    code, info = error_message(outcome.result.get("out"))
    assert code == 1 and isinstance(info, str), (code, info)
    leaked = sorted(name for name, value in secrets.items() if _leaks(info, value))
    assert not leaked, f"ERR_INFO {info!r} reveals {', '.join(leaked)}"
