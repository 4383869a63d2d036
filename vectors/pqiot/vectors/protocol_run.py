"""One deterministic protocol run of the reference, shared by generator and verifier.

A run is: an EDHOC handshake between two :class:`~pqiot.reference.session.Session`
objects, application data in both directions, a key update started by the
Initiator, and application data under the new epoch. Everything that crossed
the in-memory wire (with its TCP length prefix and its channel-0 serial
frames, spec §12.1 and §12.2), every handshake intermediate (the ``trace`` of
:class:`~pqiot.reference.edhoc.HandshakeConfig`) and the derived keys of each
epoch come back as one flat ``dict`` of hex strings, so the generator writes
it and the verifier compares it field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pqiot.reference import cbor
from pqiot.reference import suites as suite_registry
from pqiot.reference.credentials import Credential, parse_ccs
from pqiot.reference.crypto.interfaces import Rng
from pqiot.reference.edhoc import (
    AllowListResolver,
    HandshakeCompleted,
    HandshakeConfig,
    Initiator,
    PskEntry,
    Responder,
    StaticPskStore,
)
from pqiot.reference.framing.length_prefix import encode_frame
from pqiot.reference.framing.serial_frames import CHANNEL_PROTOCOL, DEFAULT_MTU, encode_message
from pqiot.reference.oscore.context import derive_context
from pqiot.reference.oscore.from_edhoc import connection_id_to_oscore_id
from pqiot.reference.records.layer import KeyUpdateStarted
from pqiot.reference.session import ApplicationData, Session, SessionState
from pqiot.reference.software_provider import SoftwareSecurityProvider

__all__ = ["Party", "ProtocolFailure", "RunSpec", "run_protocol"]

INITIATOR_DATA = (b"temperature=21.5C from the initiator", b"after key update: initiator")
RESPONDER_DATA = (b"setpoint=22.0C from the responder", b"after key update: responder")
_MAX_ROUNDS = 16


class ProtocolFailure(AssertionError):
    """The run did not reach the state a vector needs (handshake or key update failed)."""


@dataclass
class Party:
    """One side's long-term material. ``credential`` is CRED_x (CCS bytes) for methods 0/3."""

    credential: bytes | None
    private_key: bytes | None
    key_kind: str | None  # "signature" or "dh" (method 3)


@dataclass
class RunSpec:
    suite: int
    method: int
    credential_mode: str  # "kid", "value" or "psk"
    binding_context: bytes
    initiator: Party
    responder: Party
    psk: PskEntry | None = None
    serial_mtu: int = DEFAULT_MTU


def _provider_key(
    party: Party, label: str, suite: suite_registry.CipherSuite, sign_rng: Rng | None
) -> tuple[Credential, SoftwareSecurityProvider, Any]:
    if party.credential is None or party.private_key is None:
        raise ProtocolFailure(f"{label}: methods 0 and 3 need a credential and a private key")
    credential = parse_ccs(party.credential)
    provider = SoftwareSecurityProvider(rng=sign_rng)
    if party.key_kind == "dh":
        key = provider.add_dh_key(
            label, suite.key_exchange, party.private_key, credential.public_key
        )
    else:
        key = provider.add_signature_key(
            label, credential.algorithm, party.private_key, credential.public_key
        )
    return credential, provider, key


def _configs(
    spec: RunSpec,
    rngs: dict[str, Rng],
    sign_rngs: dict[str, Rng | None],
    traces: dict[str, dict[str, bytes]],
) -> tuple[HandshakeConfig, HandshakeConfig]:
    suite = suite_registry.get(spec.suite)
    if spec.method == suite_registry.METHOD_PSK:
        if spec.psk is None:
            raise ProtocolFailure("the PSK method needs a PSK")
        initiator = HandshakeConfig(
            role="initiator",
            method=4,
            suites=[spec.suite],
            psk=spec.psk,
            rng=rngs["initiator"],
            trace=traces["initiator"],
        )
        responder = HandshakeConfig(
            role="responder",
            method=4,
            suites=[spec.suite],
            psk_store=StaticPskStore([spec.psk]),
            rng=rngs["responder"],
            trace=traces["responder"],
        )
        return initiator, responder
    cred_i, provider_i, key_i = _provider_key(
        spec.initiator, "initiator", suite, sign_rngs["initiator"]
    )
    cred_r, provider_r, key_r = _provider_key(
        spec.responder, "responder", suite, sign_rngs["responder"]
    )
    by_value = spec.credential_mode == "value"
    common: dict[str, Any] = {
        "method": spec.method,
        "suites": [spec.suite],
        "send_credential_by_value": by_value,
    }
    initiator = HandshakeConfig(
        role="initiator",
        credential=cred_i,
        key=key_i,
        provider=provider_i,
        resolver=AllowListResolver([] if by_value else [cred_r], tofu=by_value),
        rng=rngs["initiator"],
        trace=traces["initiator"],
        **common,
    )
    responder = HandshakeConfig(
        role="responder",
        credential=cred_r,
        key=key_r,
        provider=provider_r,
        resolver=AllowListResolver([] if by_value else [cred_i], tofu=by_value),
        rng=rngs["responder"],
        trace=traces["responder"],
        **common,
    )
    return initiator, responder


@dataclass
class _Wire:
    """What crossed the link, as each binding frames it.

    Serial msg_ids count per sender on channel 0 from 0 (spec §12.1.1: the
    sender increments msg_id for every new message per channel).
    """

    serial_mtu: int
    entries: list[dict[str, Any]]
    next_msg_id: dict[str, int]

    def add(self, side: str, payload: bytes) -> None:
        msg_id = self.next_msg_id[side]
        self.next_msg_id[side] = (msg_id + 1) % 256
        stream = encode_message(CHANNEL_PROTOCOL, msg_id, payload, self.serial_mtu)
        self.entries.append(
            {
                "from": side,
                "payload": payload.hex(),
                "tcp_length_prefix": encode_frame(payload)[:4].hex(),
                "serial_msg_id": msg_id,
                "serial_frames": [frame.hex() + "00" for frame in stream.split(b"\x00")[:-1]],
            }
        )


def _shuttle(sessions: dict[str, Session], wire: _Wire, now: float) -> None:
    peer = {"initiator": "responder", "responder": "initiator"}
    for _ in range(_MAX_ROUNDS):
        moved = False
        for side in ("initiator", "responder"):
            for payload in sessions[side].data_to_send():
                wire.add(side, payload)
                sessions[peer[side]].receive(payload, now)
                moved = True
        if not moved:
            return
    raise ProtocolFailure(f"the sessions were still talking after {_MAX_ROUNDS} rounds")


def _events(
    session: Session,
) -> tuple[list[HandshakeCompleted], list[bytes], list[str], list[bytes]]:
    done: list[HandshakeCompleted] = []
    data: list[bytes] = []
    problems: list[str] = []
    nonces: list[bytes] = []
    while (event := session.next_event()) is not None:
        if isinstance(event, HandshakeCompleted):
            done.append(event)
        elif isinstance(event, KeyUpdateStarted):
            nonces.append(event.nonce)
        elif isinstance(event, ApplicationData):
            data.append(event.data)
        elif type(event).__name__ in ("HandshakeFailed", "PayloadDropped", "ErrorReceived"):
            problems.append(repr(event))
    return done, data, problems, nonces


def _epoch_keys(
    suite: suite_registry.CipherSuite,
    master_secret: bytes,
    master_salt: bytes,
    c_i: bytes,
    c_r: bytes,
) -> dict[str, str]:
    """RFC 8613 §3.2 keys of one epoch (Initiator Sender ID = C_R, Responder Sender ID = C_I)."""
    context = derive_context(
        master_secret=master_secret,
        master_salt=master_salt,
        sender_id=connection_id_to_oscore_id(c_r),
        recipient_id=connection_id_to_oscore_id(c_i),
        aead=suite.application_aead(),
        hkdf=suite.application_hash(),
    )
    return {
        "master_secret": master_secret.hex(),
        "master_salt": master_salt.hex(),
        "initiator_sender_key": context.sender_key.hex(),
        "responder_sender_key": context.recipient_key.hex(),
        "common_iv": context.common_iv.hex(),
    }


def _merged_traces(traces: dict[str, dict[str, bytes]]) -> dict[str, dict[str, str]]:
    """One ``trace`` of the values both sides agree on (or only one side computes), plus
    ``trace_initiator`` / ``trace_responder`` for names whose values differ (e.g. ``G_X``
    is the same, but only the Initiator records its ephemeral decapsulation seed)."""
    initiator, responder = traces["initiator"], traces["responder"]
    shared: dict[str, str] = {}
    own: dict[str, dict[str, str]] = {"initiator": {}, "responder": {}}
    for name in sorted(set(initiator) | set(responder)):
        if name in initiator and name in responder and initiator[name] != responder[name]:
            own["initiator"][name] = initiator[name].hex()
            own["responder"][name] = responder[name].hex()
        else:
            shared[name] = (initiator[name] if name in initiator else responder[name]).hex()
    return {
        "trace": shared,
        "trace_initiator": own["initiator"],
        "trace_responder": own["responder"],
    }


def run_protocol(
    spec: RunSpec, rngs: dict[str, Rng], sign_rngs: dict[str, Rng | None]
) -> dict[str, Any]:
    """Run handshake, records, key update and records; return every observable value as hex."""
    traces: dict[str, dict[str, bytes]] = {"initiator": {}, "responder": {}}
    config_i, config_r = _configs(spec, rngs, sign_rngs, traces)
    sessions = {
        "initiator": Session(
            Initiator(config_i), binding_context=spec.binding_context, rng=rngs["initiator"]
        ),
        "responder": Session(
            Responder(config_r), binding_context=spec.binding_context, rng=rngs["responder"]
        ),
    }
    wire = _Wire(spec.serial_mtu, [], {"initiator": 0, "responder": 0})
    sessions["initiator"].start(0.0)
    _shuttle(sessions, wire, 0.0)
    handshake_messages = len(wire.entries)
    done: dict[str, HandshakeCompleted] = {}
    for side, session in sessions.items():
        completed, _, problems, _ = _events(session)
        if session.state is not SessionState.ESTABLISHED or len(completed) != 1:
            raise ProtocolFailure(f"{side} did not complete the handshake: {problems}")
        done[side] = completed[0]
    received: dict[str, list[bytes]] = {"initiator": [], "responder": []}
    sessions["initiator"].send(INITIATOR_DATA[0], 0.0)
    sessions["responder"].send(RESPONDER_DATA[0], 0.0)
    _shuttle(sessions, wire, 0.0)
    sessions["initiator"].update_keys(0.0)
    key_update_record = len(wire.entries)
    _shuttle(sessions, wire, 0.0)
    sessions["initiator"].send(INITIATOR_DATA[1], 0.0)
    sessions["responder"].send(RESPONDER_DATA[1], 0.0)
    _shuttle(sessions, wire, 0.0)
    nonces: dict[str, list[bytes]] = {}
    for side, session in sessions.items():
        _, data, problems, nonces[side] = _events(session)
        if problems:
            raise ProtocolFailure(f"{side} dropped or failed: {problems}")
        received[side] = data
    if len(nonces["initiator"]) != 1 or nonces["responder"]:
        raise ProtocolFailure(f"expected one key update by the initiator, saw {nonces}")
    nonce = nonces["initiator"][0]
    suite = suite_registry.get(spec.suite)
    first = done["initiator"]
    if first.prk_out != done["responder"].prk_out:
        raise ProtocolFailure("initiator and responder derived different PRK_out")
    updated = first.key_update(nonce)
    key_length = suite.application_aead().key_size
    epochs = [
        _epoch_keys(
            suite, first.oscore_master_secret(), first.oscore_master_salt(), first.c_i, first.c_r
        ),
        _epoch_keys(
            suite,
            updated.exporter(0, b"", key_length),
            updated.exporter(1, b"", 8),
            first.c_i,
            first.c_r,
        ),
    ]
    return {
        "expected": {
            "wire": wire.entries,
            "handshake_messages": handshake_messages,
            "key_update_record": key_update_record,
            "received_by_initiator": [d.hex() for d in received["initiator"]],
            "received_by_responder": [d.hex() for d in received["responder"]],
        },
        "intermediates": {
            **_merged_traces(traces),
            "c_i": first.c_i.hex(),
            "c_r": first.c_r.hex(),
            "prk_out": first.prk_out.hex(),
            "prk_exporter": first.prk_exporter.hex(),
            "key_update_nonce": nonce.hex(),
            "prk_out_after_key_update": updated.prk_out.hex(),
            "epochs": epochs,
        },
    }


def psk_entry(kid: bytes, psk: bytes) -> PskEntry:
    """An external PSK with CCS-like identities, ID_CRED_PSK = {4: kid}."""
    return PskEntry(
        {4: kid},
        psk,
        cbor.encode({2: "initiator.psk.example"}),
        cbor.encode({2: "responder.psk.example"}),
    )
