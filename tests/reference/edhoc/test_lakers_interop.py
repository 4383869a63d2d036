"""Interop with an independent EDHOC implementation: lakers (lakers-python), method 3, suite 2.

Both directions, in memory, with the RFC 9529 trace 2 credentials and fresh
ephemeral keys; both sides must derive the same PRK_out, exporter outputs and
key-update results. Only lakers' public Python API is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pytest

from pqiot.reference.credentials import parse_ccs
from pqiot.reference.edhoc import (
    AllowListResolver,
    HandshakeCompleted,
    HandshakeConfig,
    Initiator,
    PeerCredentialAccepted,
    Responder,
    State,
)
from pqiot.reference.software_provider import SoftwareSecurityProvider

from .conftest import drain, hx, load_trace

lakers = pytest.importorskip("lakers")

INPUTS = load_trace("rfc9529_trace2.json")["inputs"]
CRED_I, CRED_R = hx(INPUTS["cred_i"]), hx(INPUTS["cred_r"])
KEY_UPDATE_CONTEXT = bytes(range(16))


def _config(role: Literal["initiator", "responder"], *, tofu: bool = False) -> HandshakeConfig:
    provider = SoftwareSecurityProvider(rng=None)
    if role == "initiator":
        key = provider.add_dh_key("I", 1, hx(INPUTS["i"]), hx(INPUTS["g_i"]))
        own, peer = parse_ccs(CRED_I), parse_ccs(CRED_R)
    else:
        key = provider.add_dh_key("R", 1, hx(INPUTS["r"]), hx(INPUTS["g_r"]))
        own, peer = parse_ccs(CRED_R), parse_ccs(CRED_I)
    resolver = AllowListResolver([] if tofu else [peer], tofu=tofu)
    return HandshakeConfig(
        role=role,
        method=3,
        suites=[2],
        credential=own,
        key=key,
        provider=provider,
        resolver=resolver,
        message_4=True,
    )


def _completed(events: Sequence[object]) -> HandshakeCompleted:
    done = [e for e in events if isinstance(e, HandshakeCompleted)]
    assert len(done) == 1, events
    return done[0]


def _assert_same_keys(ours: HandshakeCompleted, theirs: object, prk_out: bytes) -> None:
    assert ours.prk_out == bytes(prk_out)
    assert ours.oscore_master_secret() == bytes(theirs.edhoc_exporter(0, b"", 16))  # type: ignore[attr-defined]
    assert ours.oscore_master_salt() == bytes(theirs.edhoc_exporter(1, b"", 8))  # type: ignore[attr-defined]
    assert ours.exporter(23, b"ctx", 32) == bytes(theirs.edhoc_exporter(23, b"ctx", 32))  # type: ignore[attr-defined]
    updated = ours.key_update(KEY_UPDATE_CONTEXT)
    assert updated.prk_out == bytes(theirs.edhoc_key_update(KEY_UPDATE_CONTEXT))  # type: ignore[attr-defined]
    assert updated.exporter(0, b"", 16) == bytes(theirs.edhoc_exporter(0, b"", 16))  # type: ignore[attr-defined]


def test_our_initiator_against_lakers_responder() -> None:
    """Method 3, suite 2: our Initiator completes with lakers' EdhocResponder, same PRK_out and exporter."""
    initiator = Initiator(_config("initiator"))
    responder = lakers.EdhocResponder(hx(INPUTS["r"]), lakers.Credential(CRED_R))
    initiator.start(now=0.0)
    (message_1,) = initiator.data_to_send()
    responder.process_message_1(message_1)
    message_2 = responder.prepare_message_2(lakers.CredentialTransfer.ByReference, None, None)
    initiator.receive(bytes(message_2), now=0.0)
    (message_3,) = initiator.data_to_send()
    id_cred_i, _ead_3 = responder.parse_message_3(message_3)
    prk_out = responder.verify_message_3(
        lakers.credential_check_or_fetch(id_cred_i, lakers.Credential(CRED_I))
    )
    message_4 = responder.prepare_message_4(None)
    initiator.receive(bytes(message_4), now=0.0)
    assert initiator.state is State.COMPLETED
    _assert_same_keys(_completed(drain(initiator)), responder, prk_out)


@pytest.mark.parametrize("transfer", ["ByReference", "ByValue"])
def test_lakers_initiator_against_our_responder(transfer: str) -> None:
    """lakers' EdhocInitiator completes with our Responder; a by-value CCS (kccs) is accepted only via TOFU."""
    by_value = transfer == "ByValue"
    responder = Responder(_config("responder", tofu=by_value))
    initiator = lakers.EdhocInitiator()
    message_1 = initiator.prepare_message_1(None, None)
    responder.receive(bytes(message_1), now=0.0)
    (message_2,) = responder.data_to_send()
    _c_r, id_cred_r, _ead_2 = initiator.parse_message_2(message_2)
    valid_cred_r = lakers.credential_check_or_fetch(id_cred_r, lakers.Credential(CRED_R))
    initiator.verify_message_2(hx(INPUTS["i"]), lakers.Credential(CRED_I), valid_cred_r)
    message_3, prk_out = initiator.prepare_message_3(
        getattr(lakers.CredentialTransfer, transfer), None
    )
    responder.receive(bytes(message_3), now=0.0)
    (message_4,) = responder.data_to_send()
    initiator.process_message_4(message_4)
    events = drain(responder)
    assert PeerCredentialAccepted(parse_ccs(CRED_I), by_value=by_value) in events
    _assert_same_keys(_completed(events), initiator, prk_out)


def test_lakers_by_value_credential_is_refused_when_tofu_is_off() -> None:
    """REQ D6: a credential sent by value that is not allow-listed ends in tofu_disabled (ERR_CODE 1)."""
    responder = Responder(_config("responder"))
    responder_config = responder.config
    assert isinstance(responder_config.resolver, AllowListResolver)
    responder = Responder(
        HandshakeConfig(
            role="responder",
            method=3,
            suites=[2],
            credential=responder_config.credential,
            key=responder_config.key,
            provider=responder_config.provider,
            resolver=AllowListResolver([], tofu=False),
            message_4=True,
        )
    )
    initiator = lakers.EdhocInitiator()
    responder.receive(bytes(initiator.prepare_message_1(None, None)), now=0.0)
    (message_2,) = responder.data_to_send()
    _c_r, id_cred_r, _ = initiator.parse_message_2(message_2)
    initiator.verify_message_2(
        hx(INPUTS["i"]),
        lakers.Credential(CRED_I),
        lakers.credential_check_or_fetch(id_cred_r, lakers.Credential(CRED_R)),
    )
    message_3, _ = initiator.prepare_message_3(lakers.CredentialTransfer.ByValue, None)
    responder.receive(bytes(message_3), now=0.0)
    (error,) = responder.data_to_send()
    assert error == bytes([0x01]) + b"\x78" + bytes(
        [len("tofu_disabled: credential sent by value and TOFU is off")]
    ) + (b"tofu_disabled: credential sent by value and TOFU is off")
    assert responder.state is State.FAILED
