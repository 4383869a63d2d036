"""Record-layer rules the firmware enforces on its own: close bodies, closed sessions, timers and
usage limits (spec §7.3, §7.8, §7.9, §5.12, §13.5 "Timers").

The timer tests start their own host image with short timers (``PQIOT_FW_STATE_TIMER_MS``,
``PQIOT_FW_KEY_UPDATE_TIMEOUT_MS``: REQ-HS-037 and REQ-KU-006 make both configurable from 1 s),
so they take about a second instead of the 30 s / 10 s defaults.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pqiot.conformance.record_probes import EpochKeys, epoch_keys
from pqiot.hil.agent_client import Command, Status, TapClient, spawn_host
from pqiot.reference.cbor import CborValue

from .conftest import Agent, build_image
from .peer import (
    Link,
    as_int,
    byte_list,
    device_identity,
    handshake,
    host_identity,
    load_credentials,
)

CLOSE = 4
KEY_UPDATE = 2


def keys_of(link: Link, firmware_role: str, suite: int) -> EpochKeys:
    """Epoch-0 record keys of both directions, from the reference peer's secrets (§6.6)."""
    result = link.peer.handshake_result
    assert result is not None
    if firmware_role == "initiator":
        device_id, tester_id = result.c_r, result.c_i
    else:
        device_id, tester_id = result.c_i, result.c_r
    return epoch_keys(suite, result.secrets.exporter, device_id, tester_id, 0)


def info_of(client: TapClient, session: int) -> dict[str, CborValue]:
    """SESSION_INFO of a session, which must succeed."""
    return client.call(Command.SESSION_INFO, {"session": session}).ok()


def close_alert(keys: EpochKeys, out: object) -> str | None:
    """The alert named by the one close record in ``out`` (None for an orderly close)."""
    (record,) = byte_list(out)  # type: ignore[arg-type]
    _, plaintext = keys.device.open(record)
    assert plaintext is not None and plaintext[0] == CLOSE, plaintext
    body = cbor2.loads(plaintext[1:])
    assert body is None or isinstance(body, str), body
    return body


@pytest.fixture
def link(agent: Agent) -> Link:
    if agent.is_qemu:
        pytest.skip("target-independent C; host and host-asan cover it")
    load_credentials(agent.client, device_identity(), host_identity())
    return handshake(agent.client, "responder")


@pytest.mark.parametrize(
    "body",
    [cbor2.dumps(5), b"\xf6\xf6", cbor2.dumps("a" * 129), b"", cbor2.dumps(b"null")],
    ids=["int", "two-items", "129-byte-text", "empty", "bstr"],
)
def test_malformed_close_body_closes_with_decode_error(link: Link, body: bytes) -> None:
    """REQ-REC-006: a close body is one CBOR item, null or a tstr of <= 128 bytes."""
    keys = keys_of(link, "responder", -102)
    response = link.firmware_receive(keys.tester.seal(0, bytes([CLOSE]) + body))
    assert response.status == Status.PROTOCOL_ALERT, response
    assert response.result["alert"] == "decode_error"
    assert close_alert(keys, response.result["out"]) == "decode_error"
    info = info_of(link.client, link.session)
    assert info["state"] == "CLOSED"


@pytest.mark.parametrize("body", [b"\xf6", cbor2.dumps("a" * 128), cbor2.dumps("decrypt_failed")])
def test_well_formed_close_is_accepted_silently(link: Link, body: bytes) -> None:
    """REQ-REC-007: a valid close (null, or text up to 128 bytes) ends the session, no reply."""
    keys = keys_of(link, "responder", -102)
    response = link.firmware_receive(keys.tester.seal(0, bytes([CLOSE]) + body)).ok()
    assert response == {"out": [], "data": b"", "content_type": CLOSE}


def test_closed_session_refuses_export_and_records(link: Link) -> None:
    """REQ-TAP-015: EXPORT (and APP_SEND, KEY_UPDATE) on a closed session answer status 5."""
    keys = keys_of(link, "responder", -102)
    link.firmware_receive(keys.tester.seal(0, bytes([CLOSE, 0xF6]))).ok()
    client = link.client
    assert client.export(link.session, 40000, 16).status == Status.INVALID_STATE
    sent = client.call(Command.APP_SEND, {"session": link.session, "data": b"x"})
    assert sent.status == Status.INVALID_STATE
    update = client.call(Command.KEY_UPDATE, {"session": link.session, "nonce": bytes(16)})
    assert update.status == Status.INVALID_STATE


# -- timers on a host image of their own -------------------------------------------------------


@pytest.fixture
def short_timers() -> Iterator[TapClient]:
    """A host image whose state timer and key-update timeout are 1 s (REQ-HS-037, REQ-KU-006)."""
    image: Path = build_image("host")
    client = spawn_host(
        image,
        timeout=30,
        wrapper=["env", "PQIOT_FW_STATE_TIMER_MS=1000", "PQIOT_FW_KEY_UPDATE_TIMEOUT_MS=1000"],
    )
    try:
        load_credentials(client, device_identity(), host_identity())
        yield client
    finally:
        client.close()


def test_unanswered_key_update_closes_with_key_update_failed(short_timers: TapClient) -> None:
    """REQ-KU-006: no record of epoch 1 within the timeout: close record, never a retransmission;
    the next command on the session reports it (§13.5), later ones find the session closed."""
    link = handshake(short_timers, "responder")
    nonce = bytes([0xF0] * 16)
    short_timers.call(Command.KEY_UPDATE, {"session": link.session, "nonce": nonce}).ok()
    new_keys = epoch_keys(
        -102,
        link.peer.handshake_result.secrets.key_update(nonce).exporter,  # type: ignore[union-attr]
        link.peer.handshake_result.c_i,  # type: ignore[union-attr]
        link.peer.handshake_result.c_r,  # type: ignore[union-attr]
        1,
    )
    time.sleep(1.3)
    info = info_of(short_timers, link.session)
    assert info["state"] == "CLOSED", info
    answer = short_timers.call(Command.APP_SEND, {"session": link.session, "data": b"late"})
    assert answer.status == Status.PROTOCOL_ALERT, answer
    assert answer.result["alert"] == "key_update_failed"
    assert close_alert(new_keys, answer.result["out"]) == "key_update_failed"
    again = short_timers.call(Command.APP_SEND, {"session": link.session, "data": b"late"})
    assert again.status == Status.INVALID_STATE
    assert short_timers.export(link.session, 40000, 16).status == Status.INVALID_STATE


def test_answered_key_update_is_not_timed_out(short_timers: TapClient) -> None:
    """REQ-KU-006: a record of the new epoch before the timeout ends the timer."""
    link = handshake(short_timers, "responder")
    out = short_timers.call(Command.KEY_UPDATE, {"session": link.session, "nonce": bytes(16)}).ok()
    link.to_peer(byte_list(out["out"]))
    link.peer_events()
    (ack,) = link.peer_payloads(1)
    assert link.firmware_receive(ack).ok()["content_type"] == 3
    time.sleep(1.3)
    assert info_of(short_timers, link.session)["state"] == "DONE"
    sent = short_timers.call(Command.APP_SEND, {"session": link.session, "data": b"still here"})
    assert len(byte_list(sent.ok()["out"])) == 1


def test_initiator_in_wait_m2_expires_to_failed(short_timers: TapClient) -> None:
    """REQ-HS-037: WAIT_M2 left longer than the state timer goes to FAILED, silently."""
    started = short_timers.session_start(
        "initiator", method=0, suites=[-102], cred=device_identity().kid, kem_seed=bytes(64)
    ).ok()
    session = as_int(started["session"])
    assert len(byte_list(started["out"])) == 1
    assert info_of(short_timers, session)["state"] == "WAIT_M2"
    time.sleep(1.3)
    assert info_of(short_timers, session)["state"] == "FAILED"
    late = short_timers.session_deliver(session, b"\x00" * 40)
    assert not late.result.get("out"), late  # FAILED: nothing is sent
    assert info_of(short_timers, session)["state"] == "FAILED"


def test_responder_in_wait_m3_expires(short_timers: TapClient) -> None:
    """REQ-HS-037 for the Responder: message_2 sent, message_3 late: FAILED, no output."""
    from pqiot.reference.edhoc.initiator import Initiator
    from pqiot.reference.session import KIND_HANDSHAKE, Session

    from .peer import reference_config

    own, peer = device_identity(), host_identity()
    reference = Session(Initiator(reference_config("initiator", peer, own)))
    reference.start(0.0)
    (message_1,) = [p[1:] for p in reference.data_to_send() if p[0] == KIND_HANDSHAKE]
    started = short_timers.session_start(
        "responder", method=0, suites=[-102], cred=own.kid, kem_m=bytes(32)
    ).ok()
    session = as_int(started["session"])
    reply = short_timers.session_deliver(session, message_1).ok()
    assert reply["state"] == "WAIT_M3"
    reference.receive(bytes([KIND_HANDSHAKE]) + byte_list(reply["out"])[0], 0.5)
    (message_3,) = [p[1:] for p in reference.data_to_send() if p[0] == KIND_HANDSHAKE]
    time.sleep(1.3)
    assert info_of(short_timers, session)["state"] == "FAILED"
    late = short_timers.session_deliver(session, message_3)
    assert not late.result.get("out"), late
    assert info_of(short_timers, session)["state"] == "FAILED"


# -- usage limits (§7.9) -----------------------------------------------------------------------


@pytest.mark.slow
def test_ccm8_recipient_context_ends_at_limit_v(agent: Agent) -> None:
    """REQ-KU-012: with AES-CCM-16-64-128 (suite -101) the 2^14th forged record ends the session
    with a close record naming usage_limit_reached; the ones before are dropped silently."""
    if agent.target != "host":
        pytest.skip("16,384 round trips: host only")
    load_credentials(agent.client, device_identity(), host_identity())
    link = handshake(agent.client, "responder", suite=-101)
    keys = keys_of(link, "responder", -101)
    forger = dataclasses.replace(keys.tester, key=bytes(16))
    limit_v = 1 << 14
    for count in range(1, limit_v):
        response = link.firmware_receive(forger.seal(count, b"\x01forged"))
        assert (response.status, response.result["alert"]) == (7, "decrypt_failed"), count
        assert response.result["out"] == []
    last = link.firmware_receive(forger.seal(limit_v, b"\x01forged"))
    assert last.result["alert"] == "usage_limit_reached"
    assert close_alert(keys, last.result["out"]) == "usage_limit_reached"
    assert info_of(link.client, link.session)["state"] == "CLOSED"


# -- the shared response buffer (README "RAM budget") ------------------------------------------


@pytest.mark.parametrize("length", [8168, 8169])
def test_largest_output_fits_the_response_buffer_and_no_more(agent: Agent, length: int) -> None:
    """Outputs are written into the tail of the one response buffer and moved into the result:
    the largest HKDF output whose response fits max_tap_response (8,192) comes back intact, one
    byte more is status 4 (spec §13.2), never a truncated or corrupted result."""
    if agent.is_qemu:
        pytest.skip("an 8 KB response costs seconds on QEMU's UART; the C code is the same")
    args: dict[str, CborValue] = {
        "hash": -43,
        "salt": b"s",
        "ikm": b"k",
        "info": b"i",
        "len": length,
    }
    response = agent.client.call(Command.HKDF, args)
    if length > 8168:
        assert response.status == Status.TOO_LARGE
        return
    expected = HKDF(hashes.SHA384(), length, b"s", b"i").derive(b"k")
    assert response.ok() == {"okm": expected}
    agent.assert_alive()


def test_hkdf_with_every_argument_at_its_limit_fits_max_tap_request(agent: Agent) -> None:
    """REQ-TAP-006: max_tap_request covers the largest request of the declared commands, which is
    HKDF with salt, ikm and info at the 4,096 bytes REQ-TAP-007 allows each (12,328 bytes)."""
    if agent.is_qemu:
        pytest.skip("a 12 KB upload takes ~2.5 s on QEMU's UART; the limit logic is shared C code")
    salt, ikm, info = b"s" * 4096, b"k" * 4096, b"i" * 4096
    args: dict[str, CborValue] = {"hash": -16, "salt": salt, "ikm": ikm, "info": info, "len": 42}
    expected = HKDF(hashes.SHA256(), 42, salt, info).derive(ikm)
    assert agent.client.call(Command.HKDF, args).ok() == {"okm": expected}
