"""Suite-wide fixtures: the sanity handshakes around every negative conversation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from pqiot.conformance.conversation import run_handshake
from pqiot.conformance.device import Device

#: The mandatory suite (REQ-SUITE-001): every conforming device can run it.
SANITY_SUITE = -102

#: (nodeid, Device.uses) of the last passed closing sanity handshake.
_LAST_SANITY = pytest.StashKey[tuple[str, int]]()


def sanity_handshake(device: Device) -> dict[str, Any]:
    """A full -102 handshake and one record each way; the device must be fully usable.

    Returns what it proved, for the test's evidence.
    """
    started = time.perf_counter()
    role = "responder" if "responder" in device.statement.roles else "initiator"
    run = run_handshake(device, SANITY_SUITE, role)
    assert run.to_device(b"sanity ping") == b"sanity ping", "sanity: record to the device"
    assert run.from_device(b"sanity pong") == b"sanity pong", "sanity: record from the device"
    device.client.session_close(run.session)
    run.peer.close()
    return {
        "passed": True,
        "suite": SANITY_SUITE,
        "device_role": role,
        "seconds": round(time.perf_counter() - started, 3),
    }


@pytest.fixture(autouse=True)
def _sanity_around_conversations(request: pytest.FixtureRequest) -> Iterator[None]:
    """tlsfuzzer's rule: prove the device alive before and after each negative test.

    Consecutive conversations share a boundary: when nothing touched the device since
    the previous test's closing sanity handshake passed (``Device.uses`` unchanged),
    that handshake is also this test's opening one, and both tests record it. Every
    negative test stays bracketed by passing sanity handshakes.
    """
    config = request.config
    if request.node.get_closest_marker("conversation") is None:
        yield
        return
    device: Device = request.getfixturevalue("device")
    evidence: dict[str, Any] = request.getfixturevalue("evidence")
    last = config.stash.get(_LAST_SANITY, None)
    config.stash[_LAST_SANITY] = ("", -1)
    if last is not None and last[0] and device.untouched_since(last[1]):
        evidence["sanity_before"] = {"passed": True, "shared_with": last[0]}
    else:
        evidence["sanity_before"] = {"passed": False}
        evidence["sanity_before"] = sanity_handshake(device)
        last = (request.node.nodeid, device.uses)
    yield
    if device.untouched_since(last[1]):
        # Skipped before it sent anything: the opening handshake is also the closing one.
        evidence["sanity_after"] = {"passed": True, "shared_with": last[0]}
        config.stash[_LAST_SANITY] = last
        return
    evidence["sanity_after"] = {"passed": False}
    assert device.alive(), "REQ-TAP-005: the device no longer answers ECHO"
    evidence["sanity_after"] = sanity_handshake(device)
    config.stash[_LAST_SANITY] = (request.node.nodeid, device.uses)
