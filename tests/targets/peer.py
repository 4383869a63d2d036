"""The Python reference as the firmware's protocol peer, driven through TAP (spec §13.5).

One :class:`Link` = one firmware session plus one reference :class:`Session`; messages and
records are shuttled between them exactly as a binding would carry them (``out`` lists in,
SESSION_DELIVER / APP_RECEIVE out). Credentials are deterministic so failures reproduce.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from pqiot.hil.agent_client import Command, Status, TapClient, TapResponse
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.identity import Identity, generate_identity
from pqiot.reference.keystore import KeyStore
from pqiot.reference.session import KIND_HANDSHAKE, KIND_RECORD, Session, SessionState
from pqiot.reference.software_provider import SoftwareSecurityProvider

DEFAULT_SUITE = -102


def byte_list(value: CborValue) -> list[bytes]:
    """A TAP result's `out` (a list of bstr), checked."""
    assert isinstance(value, list), value
    out: list[bytes] = []
    for item in value:
        assert isinstance(item, bytes), item
        out.append(item)
    return out


def as_bytes(value: CborValue) -> bytes:
    assert isinstance(value, bytes), value
    return value


def as_int(value: CborValue) -> int:
    assert isinstance(value, int) and not isinstance(value, bool), value
    return value


@functools.cache
def device_identity() -> Identity:
    """The firmware's ML-DSA-44 identity (a two-byte kid, as a provisioned device has)."""
    return generate_identity("ML-DSA-44", subject="device", kid=b"\x0d\x0e", rng=ShakeRng(b"dev"))


@functools.cache
def host_identity() -> Identity:
    """The reference peer's identity (default kid: 8 bytes of SHA-256 of the key)."""
    return generate_identity("ML-DSA-44", subject="host", rng=ShakeRng(b"host"))


def load_credentials(client: TapClient, own: Identity, peer: Identity) -> None:
    """RESET all, then CRED_LOAD the firmware's own credential and the peer's (allow-list)."""
    assert client.call(Command.RESET, {"scope": "all"}).status == Status.OK
    loaded = client.cred_load("own", ccs=own.credential.cred, sk=own.private_key).ok()
    assert loaded == {"kid": own.kid}
    assert client.cred_load("peer", ccs=peer.credential.cred).ok() == {"kid": peer.kid}


def reference_config(
    role: str,
    own: Identity,
    peer: Identity,
    *,
    suite: int = DEFAULT_SUITE,
    rng: Callable[[int], bytes] | None = None,
    connection_id: bytes | None = None,
) -> HandshakeConfig:
    """A reference HandshakeConfig, method 0, kid credentials, deterministic ML-DSA signing."""
    provider = SoftwareSecurityProvider(rng=None)
    store = KeyStore()
    store.add(peer.credential)
    return HandshakeConfig(
        role=role,  # type: ignore[arg-type]
        method=0,
        suites=(suite,),
        credential=own.credential,
        key=own.install(provider),
        provider=provider,
        resolver=store,
        rng=rng if rng is not None else ShakeRng(b"reference " + role.encode()),
        connection_id=connection_id,
    )


@dataclass
class Link:
    """A firmware session and its reference peer."""

    client: TapClient
    session: int
    peer: Session
    steps: list[TapResponse] = field(default_factory=list)  # SESSION_START/DELIVER responses
    now: float = 1.0

    def peer_payloads(self, kind: int) -> list[bytes]:
        return [p[1:] for p in self.peer.data_to_send() if p and p[0] == kind]

    def peer_events(self) -> list[object]:
        events: list[object] = []
        while (event := self.peer.next_event()) is not None:
            events.append(event)
        return events

    def to_peer(self, records: list[bytes]) -> None:
        for record in records:
            self.peer.receive(bytes([KIND_RECORD]) + record, self.now)

    def firmware_send(self, data: bytes) -> bytes:
        """APP_SEND: the one record the firmware emits."""
        out = self.client.call(Command.APP_SEND, {"session": self.session, "data": data}).ok()
        (record,) = byte_list(out["out"])
        return record

    def firmware_receive(self, record: bytes) -> TapResponse:
        return self.client.call(Command.APP_RECEIVE, {"session": self.session, "record": record})

    def peer_send(self, data: bytes) -> bytes:
        self.peer.send(data, self.now)
        (record,) = self.peer_payloads(KIND_RECORD)
        return record

    def export(self, label: int, length: int, context: bytes = b"") -> bytes:
        return as_bytes(self.client.export(self.session, label, length, context).ok()["okm"])

    def peer_export(self, label: int, length: int, context: bytes = b"") -> bytes:
        secrets = self.peer._secrets  # the reference keeps the current epoch's secrets here
        assert secrets is not None
        return secrets.exporter(label, context, length)


def handshake(
    client: TapClient,
    firmware_role: str,
    *,
    suite: int = DEFAULT_SUITE,
    start_args: dict[str, CborValue] | None = None,
) -> Link:
    """Run a full method-0 handshake between the firmware and a reference Session."""
    own, peer = device_identity(), host_identity()
    assert client.call(Command.RESET, {"scope": "sessions"}).status == Status.OK
    peer_role = "initiator" if firmware_role == "responder" else "responder"
    config = reference_config(peer_role, peer, own, suite=suite)
    reference = Session(Initiator(config) if peer_role == "initiator" else Responder(config))
    args: dict[str, CborValue] = {"method": 0, "suites": [suite], "cred": own.kid}
    if firmware_role == "initiator":
        args["kem_seed"] = bytes(range(64))
    else:
        args["kem_m"] = bytes(range(32, 64))
    args.update(start_args or {})
    started = client.session_start(firmware_role, **args)
    result = started.ok()
    link = Link(client, as_int(result["session"]), reference, [started])
    reference.start(0.0)
    pending = byte_list(result["out"]) + link.peer_payloads(KIND_HANDSHAKE)
    from_firmware = firmware_role == "initiator"
    for _ in range(4):
        if not pending:
            break
        if from_firmware:
            for message in pending:
                reference.receive(bytes([KIND_HANDSHAKE]) + message, link.now)
            pending = link.peer_payloads(KIND_HANDSHAKE)
        else:
            outs: list[bytes] = []
            for message in pending:
                response = client.session_deliver(link.session, message)
                link.steps.append(response)
                outs += byte_list(response.ok()["out"])
            pending = outs
        from_firmware = not from_firmware
    assert reference.state is SessionState.ESTABLISHED, link.peer_events()
    link.peer_events()
    return link
