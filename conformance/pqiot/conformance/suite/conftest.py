"""Suite-wide fixtures: the sanity handshakes around every negative conversation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pqiot.conformance.conversation import run_handshake
from pqiot.conformance.device import Device

#: The mandatory suite (REQ-SUITE-001): every conforming device can run it.
SANITY_SUITE = -102


def sanity_handshake(device: Device) -> None:
    """A full -102 handshake and one record each way; the device must be fully usable."""
    role = "responder" if "responder" in device.statement.roles else "initiator"
    run = run_handshake(device, SANITY_SUITE, role)
    assert run.to_device(b"sanity ping") == b"sanity ping", "sanity: record to the device"
    assert run.from_device(b"sanity pong") == b"sanity pong", "sanity: record from the device"
    device.client.session_close(run.session)
    run.peer.close()


@pytest.fixture(autouse=True)
def _sanity_around_conversations(request: pytest.FixtureRequest) -> Iterator[None]:
    """tlsfuzzer's rule: prove the device alive before and after each negative test."""
    if request.node.get_closest_marker("conversation") is None:
        yield
        return
    device: Device = request.getfixturevalue("device")
    sanity_handshake(device)
    yield
    assert device.alive(), "REQ-TAP-005: the device no longer answers ECHO"
    sanity_handshake(device)
