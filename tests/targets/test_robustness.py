"""Hostile requests (REQ-TAP-003..007): every error gets an error reply and the DUT keeps
answering. Each test ends with an ECHO (the tlsfuzzer habit of a sanity exchange after
every negative test)."""

from __future__ import annotations

import pytest

from pqiot.hil.agent_client import Command, SerialChannel, Status
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.framing.serial_frames import CHANNEL_TAP, encode_message

from .conftest import Agent

NOT_A_REQUEST = {
    "not-cbor": b"\xff\xff\xff",
    "empty": b"",
    "map": cbor.encode({"command": 2}),
    "two-items": cbor.encode([2, 1]),
    "four-items": cbor.encode([2, 1, {}, 0]),
    "text-command": cbor.encode(["echo", 1, {}]),
    "negative-command": cbor.encode([-1, 1, {}]),
    "text-request-id": cbor.encode([2, "one", {}]),
    "indefinite-array": b"\x9f\x02\x01\xa0\xff",
    "tagged": b"\xc1\x83\x02\x01\xa0",
    "float-command": b"\x83\xf9\x3c\x00\x01\xa0",
    "non-minimal-command": b"\x83\x18\x02\x01\xa0",
}

MALFORMED_WITH_ID = {
    "args-not-a-map": cbor.encode([2, 7, []]),
    "integer-key": cbor.encode([2, 7, {1: b""}]),
    "duplicate-key": b"\x83\x02\x07\xa2\x64data\x40\x64data\x40",
    "trailing-bytes": cbor.encode([2, 7, {"data": b""}]) + b"\x00",
    "deep-nesting": b"\x83\x02\x07\xa1\x61x" + b"\x81" * 40 + b"\x00",
    "huge-count": b"\x83\x02\x07\xa1\x61x\x9b\x00\xff\xff\xff\xff\xff\xff\xff",
    "undefined-simple": b"\x83\x02\x07\xa1\x61x\xf7",
    "truncated": cbor.encode([2, 7, {"data": b"abcdef"}])[:-2],
}


@pytest.mark.parametrize("payload", NOT_A_REQUEST.values(), ids=NOT_A_REQUEST.keys())
def test_requests_that_are_not_tap_requests_get_status_2_and_null_id(
    agent: Agent, payload: bytes
) -> None:
    """REQ-TAP-003: not [uint, uint, map]: status 2; request_id null when it cannot be read."""
    response = agent.client.call_raw(payload)
    assert response.status == Status.MALFORMED
    assert response.request_id is None
    assert isinstance(response.result.get("error"), str)
    agent.assert_alive()


@pytest.mark.parametrize("payload", MALFORMED_WITH_ID.values(), ids=MALFORMED_WITH_ID.keys())
def test_malformed_arguments_get_status_2_with_the_request_id(agent: Agent, payload: bytes) -> None:
    """REQ-TAP-003: a readable request_id is echoed even when the rest is malformed."""
    response = agent.client.call_raw(payload)
    assert (response.request_id, response.status) == (7, Status.MALFORMED)
    agent.assert_alive()


@pytest.mark.parametrize("command", [3, 15, 47, 95, 98, 255, 2**32, 2**64 - 1])
def test_unknown_commands_get_status_1(agent: Agent, command: int) -> None:
    """REQ-TAP-004."""
    response = agent.client.call(command, {"data": b"x"})
    assert response.status == Status.UNKNOWN_COMMAND
    agent.assert_alive()


@pytest.mark.parametrize(
    ("command", "args"),
    [
        (Command.ECHO, {}),
        (Command.ECHO, {"data": "text"}),
        (Command.MLKEM_KEYGEN, {"d": bytes(32), "z": bytes(32)}),
        (Command.MLKEM_KEYGEN, {"set": "768", "d": bytes(32), "z": bytes(32)}),
        (Command.MLKEM_KEYGEN, {"set": -768, "d": bytes(32), "z": bytes(32)}),
        (Command.MLKEM_ENCAPS, {"set": 768, "m": bytes(32)}),
        (Command.SIG_SIGN, {"alg": -48, "sk": bytes(2560), "msg": b"", "rnd": None}),
        (Command.SIG_VERIFY, {"alg": b"-48", "pk": b"", "msg": b"", "sig": b""}),
        (Command.HASH, {"alg": "sha256"}),
        (Command.HASH, {"alg": "shake128", "data": b""}),
        (Command.ACCUMULATED, {"prim": "ml-kem-768", "n": -1}),
        (Command.RESET, {"scope": 1}),
    ],
    ids=[
        "echo-missing",
        "echo-text",
        "kem-no-set",
        "kem-set-text",
        "kem-set-negative",
        "encaps-no-ek",
        "sign-rnd-null",
        "verify-alg-bytes",
        "hash-no-data",
        "xof-no-len",
        "accumulated-negative",
        "reset-scope-int",
    ],
)
def test_missing_or_mistyped_arguments_get_status_2(
    agent: Agent, command: int, args: dict[str, CborValue]
) -> None:
    """REQ-TAP-004: an argument missing or of the wrong type is status 2."""
    response = agent.client.call(command, args)
    assert response.status == Status.MALFORMED, response
    agent.assert_alive()


def test_unknown_argument_keys_are_ignored(agent: Agent) -> None:
    """§13.2: unknown argument keys are ignored."""
    response = agent.client.call(Command.ECHO, {"data": b"ok", "zzz": [1, {"x": None}], "v": True})
    assert response.ok() == {"data": b"ok"}


def test_unknown_reset_scope_is_unsupported(agent: Agent) -> None:
    assert agent.client.call(Command.RESET, {"scope": "everything"}).status == Status.UNSUPPORTED
    agent.assert_alive()


def test_request_above_max_tap_request_is_discarded_with_status_4(agent: Agent) -> None:
    """REQ-TAP-006: discarded unparsed, status 4 with request_id null."""
    limit = agent.identity["max_tap_request"]
    assert isinstance(limit, int)
    response = agent.client.call_raw(b"\x83\x02\x01\xa1\x64data\x5a" + bytes(limit))
    assert (response.request_id, response.status) == (None, Status.TOO_LARGE)
    agent.assert_alive()


def test_request_at_max_tap_request_is_processed(agent: Agent) -> None:
    """REQ-TAP-006: up to the declared limit requests are parsed (here: too large an ECHO reply)."""
    if agent.is_qemu:
        pytest.skip("a 12 KB upload takes ~2.5 s on QEMU's UART; the limit logic is shared C code")
    limit = agent.identity["max_tap_request"]
    assert isinstance(limit, int)
    head = b"\x83\x02\x05\xa1\x64data\x59"
    payload = head + (limit - len(head) - 2).to_bytes(2, "big") + bytes(limit - len(head) - 2)
    assert len(payload) == limit
    response = agent.client.call_raw(payload)
    # the reply would exceed max_tap_response: status 4, but with the request_id read
    assert (response.request_id, response.status) == (5, Status.TOO_LARGE)
    agent.assert_alive()


def test_line_noise_and_broken_fragments_do_not_disturb_the_agent(agent: Agent) -> None:
    """REQ-SER-003/004 on the DUT side: garbage is dropped, the next frame is answered."""
    channel = agent.client.channel
    assert isinstance(channel, SerialChannel)
    fragments = encode_message(CHANNEL_TAP, 77, bytes(600)).split(b"\x00")
    channel.send_bytes(
        b"\x13\x37\x00"  # bad COBS
        + bytes(range(1, 256)) * 3  # no delimiter for longer than a maximal frame
        + b"\x00"
        + fragments[0]
        + b"\x00"
        + fragments[2]
        + b"\x00"  # fragment 1 missing
        + encode_message(5, 0, b"reserved channel")
        + encode_message(0, 0, b"\x00protocol channel is not the agent's")
    )
    agent.assert_alive()


def test_device_keeps_answering_after_a_long_error_sequence(agent: Agent) -> None:
    """REQ-TAP-005: no sequence of errors wedges or corrupts the agent."""
    for payload in [*NOT_A_REQUEST.values(), *MALFORMED_WITH_ID.values()] * 2:
        agent.client.call_raw(payload)
    keys = agent.client.call(Command.MLKEM_KEYGEN, {"set": 512, "d": bytes(32), "z": bytes(32)})
    assert keys.status == Status.OK
    ek = keys.result["ek"]
    assert isinstance(ek, bytes) and len(ek) == 800
    agent.assert_alive()
