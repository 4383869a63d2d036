"""What the suite knows about the device between tests: TAP calls made, credentials loaded.

The certification run saves time only where this bookkeeping proves the saved work
redundant: a sanity handshake shared by two consecutive conversations, and a
RESET "sessions" instead of reloading credentials the device already holds.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pqiot.conformance.conversation import provision, run_handshake
from pqiot.conformance.device import Device, _after, open_device
from pqiot.conformance.peer import suite_parties
from pqiot.hil.client import AuditRead, StatusError
from pqiot.reference.cbor import CborValue
from pqiot.reference.tap.codes import Command, Status


@pytest.fixture
def device() -> Iterator[Device]:
    with open_device("host-ref") as opened:
        yield opened


def without_audit_read(device: Device) -> Device:
    """The same agent, declaring no AUDIT_READ: its audit buffer is not observable."""
    identity = dict(device.identity)
    identity["commands"] = [c for c in device.identity["commands"] if c != Command.AUDIT_READ]  # type: ignore[union-attr]
    return Device(device.name, device.mode, device.client, identity)


def test_every_call_and_raw_message_is_counted(device: Device) -> None:
    before = device.uses
    device.alive()
    device.raw(b"\x00")
    assert device.uses == before + 2
    assert device.untouched_since(before + 2)


def test_loaded_credentials_follow_reset_and_cred_load(device: Device) -> None:
    """RESET "all" empties the record, CRED_LOAD appends, RESET "sessions" keeps it."""
    party = suite_parties(-102)["responder"]
    assert device.loaded is None, "nothing is known about a device nobody has reset"
    device.client.reset("all")
    assert device.loaded == ()
    kid = device.client.cred_load("own", ccs=party.credential.cred, sk=party.private_key)
    assert device.loaded is not None and [k for _, k in device.loaded] == [kid]
    device.client.reset("sessions")
    assert device.loaded is not None and len(device.loaded) == 1
    with pytest.raises(StatusError):
        device.client.session_deliver(4711, b"\x00")  # refused, and only about sessions
    assert device.loaded is not None and len(device.loaded) == 1


@pytest.mark.parametrize(
    "unknowable",
    [
        pytest.param(lambda d: d.client.cred_load("peer", ccs=b"\xa0"), id="refused-load"),
        pytest.param(
            lambda d: d.client.cred_load(
                "peer", ccs=suite_parties(-102)["initiator"].credential.cred, trust="tofu"
            ),
            id="tofu-peer",
        ),
        pytest.param(lambda d: d.raw(b"\x83\x01\x00\xa0"), id="raw-bytes"),
    ],
)
def test_anything_reset_sessions_would_not_undo_forgets_the_record(
    device: Device, unknowable: object
) -> None:
    device.client.reset("all")
    with contextlib.suppress(StatusError):
        unknowable(device)  # type: ignore[operator]
    assert device.loaded is None


def test_provision_reuses_exactly_the_credentials_the_device_holds(device: Device) -> None:
    """Same credentials, nothing else since: one RESET "sessions", and a handshake still works."""
    dut = without_audit_read(device)
    kid, _ = provision(dut, -102, "responder")
    before = dut.uses
    again, _ = provision(dut, -102, "responder")
    assert (again, dut.uses - before) == (kid, 1), "only RESET sessions was sent"
    run = run_handshake(dut, -102, "responder")
    assert run.to_device(b"after reuse") == b"after reuse"
    before = dut.uses
    provision(dut, -102, "initiator")
    assert dut.uses - before == 3, "other credentials: RESET all and two CRED_LOADs"


def test_a_readable_audit_log_is_read_empty_instead_of_reloading(device: Device) -> None:
    """With AUDIT_READ, RESET "sessions" plus reading the log empty equals RESET "all" plus
    reloading (§13.9): the events of the earlier session are gone either way."""
    run = run_handshake(device, -102, "responder")
    assert run.to_device(b"an event or two") == b"an event or two"
    before = device.uses
    provision(device, -102, "responder")
    assert device.uses - before == 2, "RESET sessions and one AUDIT_READ, no CRED_LOAD"
    read = device.client.audit_read()
    assert (read.events, read.lost) == ([], 0), "the log must be as empty as after RESET all"
    assert run_handshake(device, -102, "responder").to_device(b"reused") == b"reused"


def _refused() -> AuditRead:
    raise StatusError(Command.AUDIT_READ, Status.INTERNAL, {})


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda: AuditRead([], 3, False), id="lost-events"),
        pytest.param(lambda: AuditRead(["{}"] * 64, 0, True), id="never-empty"),
        pytest.param(_refused, id="refused"),
    ],
)
def test_a_log_that_is_not_read_empty_forces_the_full_reset(
    device: Device, monkeypatch: pytest.MonkeyPatch, read: Callable[[], AuditRead]
) -> None:
    """A pending lost-events count survives RESET "sessions" (only RESET "all" clears it), and
    a log that cannot be read empty is not known to be empty."""
    provision(device, -102, "responder")
    monkeypatch.setattr(device.client, "audit_read_all", read)
    before = device.uses
    provision(device, -102, "responder")
    assert device.uses - before == 1 + 3, "RESET sessions, then RESET all and two CRED_LOADs"


def test_an_audit_read_that_reports_lost_events_forgets_the_record() -> None:
    loaded = (((("slot", "own"),), b"k"),)
    read: dict[str, CborValue] = {"events": [], "more": False}
    assert _after(Command.AUDIT_READ, {}, {**read, "lost": 0}, loaded) == loaded
    assert _after(Command.AUDIT_READ, {}, {**read, "lost": 2}, loaded) is None


SHARING_CONFTEST = """
from pqiot.conformance.suite.conftest import _sanity_around_conversations  # noqa: F401
"""

SHARING_SUITE = """
import pytest

@pytest.mark.conversation
@pytest.mark.requirement("REQ-HS-004")
def test_first(device):
    assert device.alive()

@pytest.mark.conversation
@pytest.mark.requirement("REQ-HS-005")
def test_second(device):
    assert device.alive()

@pytest.mark.requirement("REQ-HS-006")
def test_plain(device):
    assert device.alive()

@pytest.mark.conversation
@pytest.mark.requirement("REQ-HS-007")
def test_third(device):
    pytest.skip("not applicable here")
"""


def test_consecutive_conversations_share_one_sanity_handshake(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """Every conversation is bracketed by passed sanity handshakes; a shared one is recorded
    on both tests, and any TAP call in between (``test_plain``) forces a fresh one."""
    pytester.makeconftest(SHARING_CONFTEST)
    pytester.makepyfile(test_sharing=SHARING_SUITE)
    out = tmp_path / "o"
    pytester.runpytest_inprocess(
        "-p", "pqiot.conformance.plugin", "-p", "no:hypothesispytest", "-p", "no:benchmark",
        "--target", "host-ref", "--out", str(out),
    )  # fmt: skip
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    evidence = {
        str(e["nodeid"]).split("::")[1]: e["evidence"] for e in lines if e["event"] == "result"
    }
    first, second, third = evidence["test_first"], evidence["test_second"], evidence["test_third"]
    assert first["sanity_before"]["passed"] and "seconds" in first["sanity_before"]
    assert first["sanity_after"]["passed"] and "seconds" in first["sanity_after"]
    assert second["sanity_before"] == {"passed": True, "shared_with": "test_sharing.py::test_first"}
    assert second["sanity_after"]["passed"] and "seconds" in second["sanity_after"]
    assert evidence["test_plain"] == {}
    assert "seconds" in third["sanity_before"], "test_plain talked to the device in between"
    assert third["sanity_after"] == {"passed": True, "shared_with": "test_sharing.py::test_third"}
