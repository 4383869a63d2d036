"""Records of the reference firmware against the Python reference (spec chapter 7).

Application data both ways, the replay window, key update started by either side, and the
exporter following the epoch; on every target.
"""

from __future__ import annotations

import pytest

from pqiot.hil.agent_client import Command, Status
from pqiot.reference.records.layer import KeyUpdateCompleted
from pqiot.reference.session import ApplicationData, SessionState

from .conftest import Agent
from .peer import Link, byte_list, device_identity, handshake, host_identity, load_credentials


@pytest.fixture(params=["responder", "initiator"])
def link(agent: Agent, request: pytest.FixtureRequest) -> Link:
    if agent.is_qemu and request.param == "responder":
        pytest.skip("qemu-m4 runs the record layer in one role (test_handshake covers both)")
    load_credentials(agent.client, device_identity(), host_identity())
    return handshake(agent.client, str(request.param))


def _data(events: list[object]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, ApplicationData)]


def test_application_data_flows_both_ways(link: Link) -> None:
    """§7.4: each side decrypts the other's records; the firmware's first record has SSN 0."""
    record = link.firmware_send(b"telemetry 1")
    assert record[1] == 0x09 and record[2] == 0x00  # flags k|n=1, PIV 00 (§7.1)
    link.to_peer([record, link.firmware_send(b"")])
    assert _data(link.peer_events()) == [b"telemetry 1", b""]
    for text in (b"command 1", b"x" * 4096):
        response = link.firmware_receive(link.peer_send(text))
        assert response.ok() == {"out": [], "data": text, "content_type": 1}


def test_replayed_and_tampered_records_are_dropped(link: Link, agent: Agent) -> None:
    """REQ-REPLAY-002/004, REQ-REC-009: replay_detected / decrypt_failed, nothing sent back."""
    first, second = link.peer_send(b"a"), link.peer_send(b"b")
    assert link.firmware_receive(second).ok()["data"] == b"b"
    assert link.firmware_receive(first).ok()["data"] == b"a"  # reordered, inside the window
    for replay in (first, second):
        response = link.firmware_receive(replay)
        assert response.status == Status.PROTOCOL_ALERT
        assert response.result == {
            "out": [],
            "alert": "replay_detected",
            "state": "DONE",
            "detail": "replayed PIV",
        }
    third = link.peer_send(b"c")
    tampered = third[:-1] + bytes([third[-1] ^ 0x80])
    assert link.firmware_receive(tampered).result["alert"] == "decrypt_failed"
    assert link.firmware_receive(third).ok()["data"] == b"c"  # the window moved only on success
    agent.assert_alive()


def test_firmware_started_key_update(link: Link) -> None:
    """REQ-KU-001..004, REQ-KEYS-009: key_update, ack under epoch 1, exporter follows the epoch."""
    before = link.export(0, 32)
    response = link.client.call(Command.KEY_UPDATE, {"session": link.session, "nonce": b"N" * 16})
    (update,) = byte_list(response.ok()["out"])
    link.to_peer([update])
    assert [type(e) for e in link.peer_events()] == [KeyUpdateCompleted]
    (ack,) = link.peer_payloads(1)
    assert ack[1] & 0x10  # the ack already travels in epoch 1 (kid context present)
    assert link.firmware_receive(ack).ok() == {"out": [], "data": b"", "content_type": 3}
    assert link.export(0, 32) == link.peer_export(0, 32) != before
    record = link.firmware_send(b"epoch 1")
    assert record[:2] == bytes([5, 0x19]) and record[3:5] == bytes([1, 1])  # s = 1, epoch 1
    link.to_peer([record])
    assert _data(link.peer_events()) == [b"epoch 1"]
    assert link.firmware_receive(link.peer_send(b"back")).ok()["data"] == b"back"


def test_reference_started_key_update(link: Link) -> None:
    """REQ-KU-002: the firmware adopts the peer's nonce and answers key_update_ack."""
    stale = link.peer_send(b"old epoch")  # never delivered before the update
    link.peer.update_keys(link.now)
    (update,) = link.peer_payloads(1)
    response = link.firmware_receive(update).ok()
    assert response["content_type"] == 2 and len(byte_list(response["out"])) == 1
    link.to_peer(byte_list(response["out"]))
    assert any(isinstance(e, KeyUpdateCompleted) for e in link.peer_events())
    assert link.export(0, 32) == link.peer_export(0, 32)
    link.to_peer([link.firmware_send(b"after")])
    assert _data(link.peer_events()) == [b"after"]
    assert link.firmware_receive(link.peer_send(b"new")).ok()["data"] == b"new"
    # epoch 0 is gone once the first valid epoch-1 record arrived (REQ-KU-003)
    late = link.firmware_receive(stale)
    assert (late.result["alert"], late.result["detail"]) == ("decrypt_failed", "no context")


def test_records_need_an_established_session(agent: Agent) -> None:
    """REQ-REC-010: APP_SEND / APP_RECEIVE / KEY_UPDATE before DONE are status 5."""
    load_credentials(agent.client, device_identity(), host_identity())
    agent.client.call(Command.RESET, {"scope": "sessions"})
    start = agent.client.session_start(
        "responder", method=0, suites=[-102], cred=device_identity().kid, kem_m=bytes(32)
    ).ok()
    session = start["session"]
    for command, args in (
        (Command.APP_SEND, {"data": b"x"}),
        (Command.APP_RECEIVE, {"record": b"\x03\x09\x00\x01" + bytes(17)}),
        (Command.KEY_UPDATE, {"nonce": bytes(16)}),
    ):
        assert (
            agent.client.call(command, {"session": session, **args}).status == Status.INVALID_STATE
        )
    assert agent.client.call(Command.APP_SEND, {"session": 999, "data": b""}).status == (
        Status.INVALID_STATE
    )
    agent.assert_alive()


def test_session_info_and_orderly_close(link: Link) -> None:
    """SESSION_INFO (§13.3) follows SSN and epoch; SESSION_CLOSE sends a close record with a
    CBOR null body (§7.3) that ends the peer's session too (REQ-REC-007)."""
    info = link.client.call(Command.SESSION_INFO, {"session": link.session}).ok()
    result = link.peer.handshake_result
    assert result is not None
    assert info["state"] == "DONE" and info["suite"] == -102 and info["method"] == 0
    assert (info["c_i"], info["c_r"]) == (result.c_i, result.c_r)
    assert info["peer_kid"] == host_identity().kid and (info["epoch"], info["ssn"]) == (0, 0)
    link.to_peer([link.firmware_send(b"one"), link.firmware_send(b"two")])
    info = link.client.call(Command.SESSION_INFO, {"session": link.session}).ok()
    assert info["ssn"] == 2
    closed = link.client.call(Command.SESSION_CLOSE, {"session": link.session}).ok()
    link.to_peer(byte_list(closed["out"]))
    link.peer_events()
    assert link.peer.state is SessionState.CLOSED
    gone = link.client.call(Command.SESSION_INFO, {"session": link.session})
    assert gone.status == Status.INVALID_STATE
