"""Firmware fixes for conformance findings: the strict CBOR decoder (REQ-ENC-005/006/008),
received error messages (REQ-HS-022/023, REQ-ERR-002/005), the state table (REQ-HS-033),
critical EAD (REQ-HS-020), connection identifier limits (REQ-HS-003) and the default suite
policy (REQ-SUITE-003).

The conformance suite checks one example of each; these tests pin the exact bounds (level 16
accepted, 17 refused; 4096 items accepted, 4097 refused), the UTF-8 corner cases and the alert
a received error maps to. Each test runs on every firmware target.
"""

from __future__ import annotations

import pytest

from pqiot.hil.agent_client import Command, Status, TapResponse
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.session import KIND_HANDSHAKE, Session

from .conftest import Agent
from .peer import (
    as_int,
    byte_list,
    device_identity,
    handshake,
    host_identity,
    load_credentials,
    reference_config,
)

KEM_SEED = bytes(range(64))
KEM_M = bytes(range(32, 64))

# --- the TAP request decoder ------------------------------------------------------------------


def _echo(agent: Agent, value: bytes, key: bytes = b"\x64zzzz") -> TapResponse:
    """ECHO {"data": h'01', key: value} as raw bytes (key sorts after "data" by default)."""
    return agent.client.call_raw(b"\x83\x02\x07\xa2\x64data\x41\x01" + key + value)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        pytest.param("ü€😀".encode(), True, id="two-three-four-byte-forms"),
        pytest.param(b"\xf4\x8f\xbf\xbf", True, id="u10ffff"),
        pytest.param(b"\xed\x9f\xbf", True, id="ud7ff"),
        pytest.param(b"\xe0\x80\xaf", False, id="overlong-three-byte"),
        pytest.param(b"\xf0\x8f\xbf\xbf", False, id="overlong-four-byte"),
        pytest.param(b"\xed\xbf\xbf", False, id="surrogate-dfff"),
        pytest.param(b"\xf5\x80\x80\x80", False, id="lead-f5"),
        pytest.param(b"\x80", False, id="lone-continuation"),
        pytest.param(b"\xe2\x82", False, id="truncated"),
    ],
)
def test_text_arguments_must_be_utf8(agent: Agent, text: bytes, valid: bool) -> None:
    """REQ-ENC-006 in the TAP decoder: any text string, even an ignored one."""
    response = _echo(agent, bytes([0x60 | len(text)]) + text)
    if valid:
        assert (response.status, response.result) == (Status.OK, {"data": b"\x01"})
    else:
        assert response.status == Status.MALFORMED, response
        assert response.request_id == 7, "the request_id was readable (REQ-TAP-003)"
    agent.assert_alive()


@pytest.mark.parametrize(("depth", "valid"), [(14, True), (15, False)])
def test_nesting_bound_is_level_16(agent: Agent, depth: int, valid: bool) -> None:
    """REQ-ENC-008: request array level 0, args map 1, the value from 2; ``depth`` arrays put
    the innermost int at level 2 + depth: 16 is accepted, 17 refused."""
    response = _echo(agent, b"\x81" * depth + b"\x00")
    assert response.status == (Status.OK if valid else Status.MALFORMED), response


@pytest.mark.parametrize(("count", "valid"), [(4088, True), (4089, False)])
def test_item_bound_is_4096_per_request(agent: Agent, count: int, valid: bool) -> None:
    """REQ-ENC-008: the request holds 8 items besides the array's ``count`` elements."""
    response = _echo(agent, b"\x99" + count.to_bytes(2, "big") + bytes(count))
    assert response.status == (Status.OK if valid else Status.MALFORMED), response
    agent.assert_alive()


@pytest.mark.parametrize(
    ("args", "valid"),
    [
        # "zz" (62 7a 7a) sorts before "data" (64 ...): shorter encodings first.
        pytest.param(b"\xa2\x62zz\x00\x64data\x41\x01", True, id="short-key-first"),
        pytest.param(b"\xa2\x64data\x41\x01\x62zz\x00", False, id="short-key-last"),
        pytest.param(b"\xa2\x64data\x41\x01\x64data\x41\x01", False, id="repeated-key"),
        pytest.param(b"\xa2\x64data\x41\x01\x64zzzz\xa2\x02\x00\x01\x00", False, id="nested-order"),
        pytest.param(b"\xa2\x64data\x41\x01\x64zzzz\xa2\x01\x00\x02\x00", True, id="nested-sorted"),
        pytest.param(b"\xa2\x64data\x41\x01\x64zzzz\xa1\x41\x00\x00", False, id="nested-bstr-key"),
    ],
)
def test_maps_must_be_deterministic_at_every_level(agent: Agent, args: bytes, valid: bool) -> None:
    """REQ-ENC-005: int or text keys in bytewise order of their encodings, no repeats."""
    response = agent.client.call_raw(b"\x83\x02\x07" + args)
    assert response.status == (Status.OK if valid else Status.MALFORMED), response


# --- received error messages and the state table -------------------------------------------


def _initiator(agent: Agent, **args: CborValue) -> tuple[int, bytes]:
    load_credentials(agent.client, device_identity(), host_identity())
    started = agent.client.session_start(
        "initiator", method=0, cred=device_identity().kid, kem_seed=KEM_SEED, **args
    ).ok()
    (message_1,) = byte_list(started["out"])
    return as_int(started["session"]), message_1


def _state(agent: Agent, session: int) -> object:
    return agent.client.call(Command.SESSION_INFO, {"session": session}).ok().get("state")


@pytest.mark.parametrize(
    ("error", "alert"),
    [
        pytest.param(b"\x01\x75authentication_failed", "authentication_failed", id="name-only"),
        pytest.param(b"\x01\x70tofu_disabled: x", "tofu_disabled", id="name-and-detail"),
        pytest.param(b"\x01\x65busy!", "unspecified_error", id="unknown-name"),
        pytest.param(b"\x01\x6ddecode_errorX", "unspecified_error", id="name-prefix-only"),
        pytest.param(b"\x18\x2a\x6eunknown_method", "unspecified_error", id="unknown-code-text"),
        pytest.param(b"\x18\x2a\xf5", "unspecified_error", id="unknown-code-bool"),
        pytest.param(b"\x02\x38\x65", "wrong_selected_cipher_suite", id="code-2-our-suite"),
        pytest.param(b"\x02\x82\x38\x65\x38\x64", "wrong_selected_cipher_suite", id="code-2-list"),
        pytest.param(b"\x03\xf5", "unknown_credential", id="code-3"),
        pytest.param(b"\x02\x81\x38\x65", "decode_error", id="code-2-one-element-array"),
        pytest.param(b"\x01", "decode_error", id="err-code-alone"),
        pytest.param(b"\x20\x60", "unspecified_error", id="negative-code"),
    ],
)
def test_received_error_names_the_alert_it_carries(agent: Agent, error: bytes, alert: str) -> None:
    """§13.5 status 7: the peer's alert (REQ-ERR-002), decode_error for a malformed error
    (REQ-HS-023); never an answer (REQ-HS-022), and the session is FAILED. This build does
    not use the optional retry of REQ-HS-029 (it has no entropy for a new ephemeral key)."""
    session, _ = _initiator(agent, suites=[-102])
    response = agent.client.session_deliver(session, error)
    assert response.status == Status.PROTOCOL_ALERT, response
    assert response.result["alert"] == alert
    assert response.result["out"] == [] and response.result["state"] == "FAILED"


def test_message_1_in_wait_m2_is_unexpected_and_answered(agent: Agent) -> None:
    """REQ-HS-033: a message_1 (an int and more than two items) is not an error message."""
    session, message_1 = _initiator(agent, suites=[-102])
    response = agent.client.session_deliver(session, message_1)
    assert response.status == Status.PROTOCOL_ALERT
    assert response.result["alert"] == "unexpected_message"
    (error,) = byte_list(response.result["out"])
    assert cbor.decode_sequence(error) == [1, "unexpected_message"]


def test_suites_absent_is_the_default_policy(agent: Agent) -> None:
    """REQ-SUITE-003 / §13.5: without ``suites`` message_1 offers SUITES_I = -102, an int."""
    _, message_1 = _initiator(agent)
    items = cbor.decode_sequence(message_1)
    assert items[:2] == [0, -102] and message_1[1:3] == b"\x38\x65"


@pytest.mark.parametrize(("suite", "accepted"), [(-101, True), (-102, False)])
def test_own_c_i_length_follows_the_suite(agent: Agent, suite: int, accepted: bool) -> None:
    """REQ-HS-003: 7 bytes = nonce 13 - 6 for AES-CCM (-101); A256GCM (-102) allows 6."""
    load_credentials(agent.client, device_identity(), host_identity())
    c_id = bytes(range(0x40, 0x47))
    response = agent.client.session_start(
        "initiator",
        method=0,
        suites=[suite],
        cred=device_identity().kid,
        kem_seed=KEM_SEED,
        c_id=c_id,
    )
    if accepted:
        (message_1,) = byte_list(response.ok()["out"])
        assert message_1.endswith(b"\x47" + c_id)
    else:
        assert response.status != Status.OK, response
    agent.assert_alive()


@pytest.mark.parametrize(
    ("ead", "label"),
    [(b"\x20", -1), (b"\x3a\x00\x0f\x42\x3f", -1000000), (b"\x38\x63\x41\x00", -100)],
    ids=["minus-1", "minus-1000000", "minus-100-with-value"],
)
def test_critical_ead_1_error_text(agent: Agent, ead: bytes, label: int) -> None:
    """REQ-HS-020: ERR_INFO "unspecified_error: unsupported critical EAD <label>" exactly."""
    load_credentials(agent.client, device_identity(), host_identity())
    peer = Session(Initiator(reference_config("initiator", host_identity(), device_identity())))
    peer.start(0.0)
    (message_1,) = [p[1:] for p in peer.data_to_send() if p[0] == KIND_HANDSHAKE]
    session = as_int(
        agent.client.session_start(
            "responder", method=0, suites=[-102], cred=device_identity().kid, kem_m=KEM_M
        ).ok()["session"]
    )
    response = agent.client.session_deliver(session, message_1 + ead)
    assert response.status == Status.PROTOCOL_ALERT
    (error,) = byte_list(response.result["out"])
    assert cbor.decode_sequence(error) == [
        1,
        f"unspecified_error: unsupported critical EAD {label}",
    ]


def test_error_in_done_discards_the_session(agent: Agent) -> None:
    """REQ-HS-022 / REQ-ERR-005 in DONE: keys discarded (no record, no export), nothing sent;
    a stray message_1 or non-CBOR input before it is dropped with the state unchanged."""
    link = handshake(agent.client, "initiator")
    session = link.session
    dropped = agent.client.session_deliver(session, b"\x00\x18")
    assert dropped.ok() == {"out": [], "state": "DONE"}
    assert agent.client.call(Command.APP_SEND, {"session": session, "data": b"x"}).status == 0
    response = agent.client.session_deliver(session, b"\x01\x71unspecified_error")
    assert response.status == Status.PROTOCOL_ALERT, response
    assert response.result["out"] == [] and response.result["alert"] == "unspecified_error"
    assert _state(agent, session) == "FAILED"
    app = agent.client.call(Command.APP_SEND, {"session": session, "data": b"x"})
    assert app.status == Status.INVALID_STATE, app
    assert agent.client.export(session, 0, 16).status == Status.INVALID_STATE
    # FAILED drops everything silently from now on.
    assert agent.client.session_deliver(session, b"\x03\xf5").ok() == {"out": [], "state": "FAILED"}


def _message_1_with_c_i_0_and_ead() -> bytes:
    """A reference message_1 with C_I = 0 (byte 00) and a padding EAD item after it, so
    C_I is not the message's last byte."""
    config = reference_config("initiator", host_identity(), device_identity(), connection_id=b"\0")
    peer = Session(Initiator(config))
    peer.start(0.0)
    (message_1,) = [p[1:] for p in peer.data_to_send() if p[0] == KIND_HANDSHAKE]
    assert message_1.endswith(b"\x00")
    return message_1 + b"\x00\x41\x05"


@pytest.mark.parametrize("configured", [False, True], ids=["default-c-r", "configured-c-r"])
def test_responder_c_r_differs_from_c_i(agent: Agent, configured: bool) -> None:
    """REQ-HS-005: C_R (default 0, or configured 0) gives way to C_I = 0 even when EAD_1
    follows C_I, so that the last byte of message_1 is not C_I."""
    load_credentials(agent.client, device_identity(), host_identity())
    extra: dict[str, CborValue] = {"c_id": 0} if configured else {}
    session = as_int(
        agent.client.session_start(
            "responder", method=0, suites=[-102], cred=device_identity().kid, kem_m=KEM_M, **extra
        ).ok()["session"]
    )
    response = agent.client.session_deliver(session, _message_1_with_c_i_0_and_ead())
    assert (response.status, response.result.get("state")) == (Status.OK, "WAIT_M3"), response
    info = agent.client.call(Command.SESSION_INFO, {"session": session}).ok()
    assert info.get("c_r") != info.get("c_i"), info
