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


# -- the NVM store under the session records (nvm_store.c): torn writes and damage ----------

#: nvm_store.c layout: a 32-byte format header, then copies A and B of each session record
#: (magic "PQSR", seq u32 LE, payload length u16, record u16, 320 payload bytes, CRC-32).
HEADER_SIZE = 32
SESSION_RECORDS = 12
SESSION_COPY = 12 + 320 + 4
COPY_MAGIC = b"PQSR"


def _session_copies(nvm: bytes) -> list[tuple[int, int, int]]:
    """(offset, seq, payload length) of every session-record copy that holds a session."""
    copies = []
    for index in range(2 * SESSION_RECORDS):
        offset = HEADER_SIZE + index * SESSION_COPY
        if nvm[offset : offset + 4] == COPY_MAGIC:
            length = int.from_bytes(nvm[offset + 8 : offset + 10], "little")
            if length:
                copies.append(
                    (offset, int.from_bytes(nvm[offset + 4 : offset + 8], "little"), length)
                )
    return copies


def _refused_for_damage(client: TapClient) -> None:
    """REQ-KS-010: SESSION_START answers internal_error and an error-severity event is audited."""
    load_credentials(client, device_identity(), host_identity())
    own = device_identity()
    response = client.session_start(
        "responder", method=0, suites=[-102], cred=own.kid, kem_m=bytes(32)
    )
    assert response.status == Status.PROTOCOL_ALERT, response
    assert response.result["alert"] == "internal_error", response.result
    events = client.call(Command.AUDIT_READ, {}).ok()["events"]
    assert isinstance(events, list)
    assert any(
        '"severity":"error"' in line and "internal_error" in line for line in map(str, events)
    ), events


def test_a_torn_session_write_leaves_the_previous_copy(restartable: tuple[Path, Path]) -> None:
    """REQ-KS-009: a reset in the middle of a save leaves the old content complete.

    After SSN 0..K the newest copy holds P_s = 2K and the other one P_s = K. Tearing the
    newest copy (a payload byte changed: its CRC fails, as after a partial write) must bring
    the session back from the previous copy: the next SSN is K.
    """
    image, nvm = restartable
    client: TapClient = spawn_host(image, timeout=30)
    try:
        load_credentials(client, device_identity(), host_identity())
        link = handshake(client, "responder")
        assert [_piv(link.firmware_send(b"%d" % i)) for i in range(K + 1)] == list(range(K + 1))
    finally:
        client.close()
    data = bytearray(nvm.read_bytes())
    copies = _session_copies(bytes(data))
    assert len(copies) == 2, copies
    newest = max(copies, key=lambda c: c[1])
    data[newest[0] + 12 + newest[2] // 2] ^= 0x5A
    nvm.write_bytes(bytes(data))
    client = spawn_host(image, timeout=30)
    try:
        link = Link(client, link.session, link.peer)
        assert _piv(link.firmware_send(b"after a torn write")) == K
    finally:
        client.close()


@pytest.mark.parametrize("damage", ["header", "both copies", "truncated"])
def test_a_damaged_store_is_never_replaced_silently(
    restartable: tuple[Path, Path], damage: str
) -> None:
    """REQ-KS-010: a store failing its integrity check refuses sessions, keeps its bytes,
    and only RESET "factory" (an explicit operator action) starts it again empty."""
    image, nvm = restartable
    client: TapClient = spawn_host(image, timeout=30)
    try:
        load_credentials(client, device_identity(), host_identity())
        link = handshake(client, "responder")
        link.firmware_send(b"persisted")
    finally:
        client.close()
    data = bytearray(nvm.read_bytes())
    if damage == "header":
        data[5] ^= 0x01
    elif damage == "both copies":
        (offset, _seq, _length), *_ = _session_copies(bytes(data))
        first = offset - (offset - HEADER_SIZE) % (2 * SESSION_COPY)  # copy A of that record
        for copy in (first, first + SESSION_COPY):
            data[copy + 20] ^= 0x01
    else:
        del data[len(data) // 2 :]
    nvm.write_bytes(bytes(data))
    client = spawn_host(image, timeout=30)
    try:
        _refused_for_damage(client)
        gone = client.call(Command.APP_SEND, {"session": link.session, "data": b"x"})
        assert gone.status == Status.INVALID_STATE, "a damaged store restored a session"
        assert nvm.read_bytes() == bytes(data), "the damaged store was overwritten"
        assert client.call(Command.RESET, {"scope": "factory"}).status == Status.OK
        load_credentials(client, device_identity(), host_identity())
        handshake(client, "responder")
    finally:
        client.close()
