"""Record state that survives a restart of the host firmware (spec §7.7, "K ahead").

The host image keeps its NVM in a file (`PQIOT_FW_NVM`); the test restarts the process on the
same file. The peer is the Python reference, which does not restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pqiot.hil.agent_client import Command, Status, TapClient, spawn_host
from pqiot.reference.records.layer import KeyUpdateCompleted
from pqiot.reference.session import ApplicationData

from .conftest import build_image
from .peer import Link, byte_list, device_identity, handshake, host_identity, load_credentials

K = 32  # REC_PERSIST_K, the spec's default persistence step


@pytest.fixture(params=["host", "host-asan"])
def restartable(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Path]]:
    image = build_image(str(request.param))
    monkeypatch.setenv("PQIOT_FW_NVM", str(tmp_path / "nvm.bin"))
    yield image, tmp_path / "nvm.bin"


def _piv(record: bytes) -> int:
    return int.from_bytes(record[2 : 2 + (record[1] & 7)], "big")


def test_restart_resumes_k_ahead_and_rejects_every_old_piv(
    restartable: tuple[Path, Path],
) -> None:
    """REQ-REPLAY-006..009: no SSN reuse, no replay, and a key update re-synchronises."""
    image, nvm = restartable
    client: TapClient = spawn_host(image, timeout=30)
    try:
        load_credentials(client, device_identity(), host_identity())
        link = handshake(client, "responder")
        sent = [link.firmware_send(b"before %d" % i) for i in range(3)]
        assert [_piv(r) for r in sent] == [0, 1, 2]
        link.to_peer(sent)
        assert len([e for e in link.peer_events() if isinstance(e, ApplicationData)]) == 3
        delivered = link.peer_send(b"delivered")
        assert client.call(Command.APP_RECEIVE, {"session": link.session, "record": delivered}).ok()
        held_back = link.peer_send(b"never delivered before the restart")
    finally:
        client.close()
    assert nvm.stat().st_size > 0

    client = spawn_host(image, timeout=30)
    try:
        link = Link(client, link.session, link.peer)
        # the sender resumes at the stored bound P_s = K (REQ-REPLAY-007)
        record = link.firmware_send(b"after restart")
        assert _piv(record) == K
        link.to_peer([record])
        assert [e.data for e in link.peer_events() if isinstance(e, ApplicationData)] == [
            b"after restart"
        ]
        # every PIV <= P_r is a replay now, even one never seen before (REQ-REPLAY-009)
        for old in (delivered, held_back):
            response = link.firmware_receive(old)
            assert response.status == Status.PROTOCOL_ALERT
            assert response.result["alert"] == "replay_detected"
        assert link.export(0, 32) == link.peer_export(0, 32)
        # REQ-REPLAY-010: a key update gives both sides fresh keys and windows
        update = client.call(Command.KEY_UPDATE, {"session": link.session, "nonce": b"R" * 16})
        link.to_peer(byte_list(update.ok()["out"]))
        assert any(isinstance(e, KeyUpdateCompleted) for e in link.peer_events())
        (ack,) = link.peer_payloads(1)
        assert link.firmware_receive(ack).ok()["content_type"] == 3
        assert link.firmware_receive(link.peer_send(b"fresh")).ok()["data"] == b"fresh"
    finally:
        client.close()

    # the epoch and the new bounds were persisted too: a third boot continues in epoch 1
    client = spawn_host(image, timeout=30)
    try:
        link = Link(client, link.session, link.peer)
        record = link.firmware_send(b"third boot")
        assert record[1] & 0x10 and record[1 + 1 + (record[1] & 7) + 1] == 1  # epoch byte = 1
        assert _piv(record) == K
        link.to_peer([record])
        assert [e.data for e in link.peer_events() if isinstance(e, ApplicationData)] == [
            b"third boot"
        ]
        # RESET sessions forgets the persisted contexts as well (REQ-TAP-016)
        assert client.call(Command.RESET, {"scope": "sessions"}).status == Status.OK
    finally:
        client.close()
    client = spawn_host(image, timeout=30)
    try:
        gone = client.call(Command.APP_SEND, {"session": link.session, "data": b"x"})
        assert gone.status == Status.INVALID_STATE
    finally:
        client.close()
