"""Probes for handshake-rule tests: traced reference peers, forged messages, TAP outcomes.

The device is black-box, so to put one precise fault in front of it the tester
runs the reference with ``HandshakeConfig.trace`` on and rebuilds a single
message from the traced keys: a PLAINTEXT_2 re-encrypted with a keystream of the
right length, or a PLAINTEXT_3 re-sealed under K_3 / IV_3. Everything before
the fault (TH_2, PRK_2e, TH_3) is what the device itself computed, so the
device decrypts the forged message and meets exactly the fault under test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pqiot.conformance.conversation import provision, start_session
from pqiot.conformance.device import Device
from pqiot.conformance.peer import Party, ReferencePeer, suite_parties
from pqiot.hil.client import StatusError
from pqiot.reference import cbor
from pqiot.reference import suites as registry
from pqiot.reference.cose import enc_structure0
from pqiot.reference.credentials import Credential
from pqiot.reference.crypto.interfaces import Rng
from pqiot.reference.crypto.rng import system_rng
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.key_schedule import KeySchedule
from pqiot.reference.edhoc.machine import xor
from pqiot.reference.edhoc.messages import encode_message_2
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.edhoc.wire import EadItem
from pqiot.reference.keystore import KeyStore
from pqiot.reference.security_provider import KeyRef
from pqiot.reference.session import Session
from pqiot.reference.software_provider import SoftwareSecurityProvider

__all__ = [
    "ALERT_NAMES",
    "Outcome",
    "TracedPeer",
    "UnequalId",
    "alert_in_err_info",
    "attempt",
    "check_err_info_format",
    "deliver",
    "device_initiator",
    "device_responder",
    "drive",
    "initiator_peer_for",
    "reencrypt_message_2",
    "reseal_message_3",
    "responder_peer_for",
    "signing_with_its_own_algorithm",
    "skip_item",
    "start_sending_credential_by_value",
]

#: The fourteen alert names of spec §10.2, transcribed from the spec (not from the reference).
ALERT_NAMES = frozenset(
    {
        "unspecified_error",
        "decode_error",
        "unexpected_message",
        "wrong_selected_cipher_suite",
        "unknown_credential",
        "authentication_failed",
        "decrypt_failed",
        "replay_detected",
        "message_too_large",
        "unsupported_method",
        "tofu_disabled",
        "usage_limit_reached",
        "key_update_failed",
        "internal_error",
    }
)


class UnequalId(bytes):
    """A connection identifier that the reference's own C_R != C_I guard cannot see.

    The reference responder redraws a C_R equal to C_I (REQ-HS-005); to test
    that the *device* rejects such a message_2 (REQ-HS-009) the tester needs a
    correctly signed message_2 carrying C_R = C_I, so this value compares
    unequal to everything while encoding as its bytes.
    """

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = bytes.__hash__


class TracedPeer(ReferencePeer):
    """A :class:`ReferencePeer` whose every intermediate value lands in ``trace``."""

    def __init__(
        self,
        role: str,
        suites: Sequence[int],
        own: Party,
        trusted: Sequence[Credential],
        *,
        by_value: bool = False,
        message_4: bool = False,
        connection_id: bytes | None = None,
        ead: Sequence[EadItem] = (),
        rng: Rng = system_rng,
        signing_rng: Rng | None = None,
    ) -> None:
        self.now = 0.0
        self.trace: dict[str, bytes] = {}
        self.provider = SoftwareSecurityProvider(rng=signing_rng or system_rng)
        key = self.provider.add_signature_key(
            "own", own.credential.algorithm, own.private_key, own.credential.public_key
        )
        store = KeyStore()
        for credential in trusted:
            store.add(credential)
        initiator = role == "initiator"
        self.config = HandshakeConfig(
            role="initiator" if initiator else "responder",
            method=0,
            suites=list(suites),
            credential=own.credential,
            key=key,
            provider=self.provider,
            resolver=store,
            connection_id=connection_id,
            rng=rng,
            send_credential_by_value=by_value,
            message_4=message_4,
            ead_1=tuple(ead) if initiator else (),
            ead_2=() if initiator else tuple(ead),
            trace=self.trace,
        )
        handshake = Initiator(self.config) if initiator else Responder(self.config)
        self.session = Session(handshake, rng=rng)
        self.session.start(self.now)


def signing_with_its_own_algorithm(peer: TracedPeer) -> TracedPeer:
    """Make ``peer`` sign with its key's algorithm whatever the suite asks for.

    A conforming SecurityProvider refuses that (REQ-SP-003), so the reference never
    produces a correctly signed message under a key of another algorithm; tests of the
    *device's* algorithm check (REQ-CRED-002) need exactly such a message.
    """
    sign = peer.provider.sign
    algorithm = peer.config.credential.algorithm if peer.config.credential else 0

    def any_suite(key: KeyRef, message: bytes) -> bytes:
        return sign(KeyRef(key.label, algorithm), message)

    peer.provider.sign = any_suite  # type: ignore[method-assign]
    return peer


def responder_peer_for(suite: int, **options: Any) -> TracedPeer:
    """The traced reference Responder that a device Initiator provisioned by us expects."""
    parties = suite_parties(suite)
    return TracedPeer(
        "responder", [suite], parties["responder"], [parties["initiator"].credential], **options
    )


def initiator_peer_for(suite: int, **options: Any) -> TracedPeer:
    """The traced reference Initiator that a device Responder provisioned by us expects."""
    parties = suite_parties(suite)
    return TracedPeer(
        "initiator", [suite], parties["initiator"], [parties["responder"].credential], **options
    )


def reencrypt_message_2(trace: dict[str, bytes], suite: int, plaintext_2: bytes) -> bytes:
    """message_2 = G_Y || PLAINTEXT_2 XOR KEYSTREAM_2, keystream re-derived for the new length."""
    schedule = KeySchedule(registry.get(suite).hash())
    keystream = schedule.keystream_2(trace["PRK_2e"], trace["TH_2"], len(plaintext_2))
    return encode_message_2(trace["G_Y"], xor(plaintext_2, keystream))


def reseal_message_3(trace: dict[str, bytes], suite: int, plaintext_3: bytes) -> bytes:
    """message_3 = AEAD(K_3, IV_3, PLAINTEXT_3, Enc_structure(TH_3)) for a chosen PLAINTEXT_3."""
    aead = registry.get(suite).aead()
    sealed = aead.seal(trace["K_3"], trace["IV_3"], plaintext_3, enc_structure0(b"", trace["TH_3"]))
    return cbor.encode(sealed)


@dataclass
class Outcome:
    """What one TAP call produced: status 0 with its result, or the refusal's status and map."""

    status: int
    result: dict[str, Any]

    @property
    def out(self) -> list[bytes]:
        return [bytes(m) for m in self.result.get("out", [])]

    @property
    def alert(self) -> object:
        return self.result.get("alert")

    @property
    def state(self) -> object:
        return self.result.get("state")

    def summary(self) -> str:
        """A short description for assertion messages (messages are kilobytes)."""
        sizes = [len(m) for m in self.out]
        extra = {k: v for k, v in self.result.items() if k != "out"}
        return f"status {self.status}, out {len(sizes)} message(s) of {sizes} bytes, {extra!r}"


def attempt(call: Callable[[], object]) -> Outcome:
    """Run a TAP call and keep its status, whether it succeeded or was refused."""
    try:
        value = call()
    except StatusError as exc:
        return Outcome(exc.status, dict(exc.result))
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
        return Outcome(0, {"out": list(value[0]), "state": value[1]})
    if isinstance(value, list):
        return Outcome(0, {"out": value})
    return Outcome(0, dict(value) if isinstance(value, dict) else {"value": value})


def deliver(device: Device, session: int, message: bytes) -> Outcome:
    """SESSION_DELIVER one message and keep the outcome, refusal or not."""
    return attempt(lambda: device.client.session_deliver(session, message))


def device_responder(
    device: Device,
    suite: int,
    *,
    suites: list[int] | None = None,
    peer_credential: Credential | None = None,
    **options: Any,
) -> tuple[int, Party]:
    """RESET, provision and start a device Responder; returns (session, tester identity)."""
    kid, tester = provision(device, suite, "responder", peer_credential=peer_credential)
    session, _ = start_session(device, "responder", suites or [suite], cred=kid, **options)
    return session, tester


def device_initiator(
    device: Device, suite: int, *, suites: list[int] | None = None, **options: Any
) -> tuple[int, bytes]:
    """RESET, provision and start a device Initiator; returns (session, its message_1)."""
    kid, _ = provision(device, suite, "initiator")
    session, out = start_session(device, "initiator", suites or [suite], cred=kid, **options)
    assert len(out) == 1, f"SESSION_START as initiator must emit message_1, got {len(out)} messages"
    return session, bytes(out[0])


def alert_in_err_info(info: object) -> str:
    """The alert name of an ERR_CODE 1 ERR_INFO (``"<alert>"`` or ``"<alert>: <detail>"``)."""
    assert isinstance(info, str), f"ERR_INFO of ERR_CODE 1 must be a text string, got {info!r}"
    return info.partition(": ")[0]


def check_err_info_format(info: object) -> None:
    """REQ-HS-019 / §10.1: ``"<alert>"`` or ``"<alert>: <detail>"``, at most 128 bytes UTF-8."""
    assert isinstance(info, str), f"ERR_INFO of ERR_CODE 1 must be a text string, got {info!r}"
    size = len(info.encode("utf-8"))
    assert size <= 128, f"ERR_INFO of {size} bytes (limit 128): {info!r}"
    name, sep, detail = info.partition(": ")
    assert ":" not in name and (not sep or detail), (
        f"ERR_INFO {info!r} is not '<alert_name>' or '<alert_name>: <detail>'"
    )


def drive(
    device: Device, session: int, peer: ReferencePeer, out: Sequence[bytes]
) -> list[tuple[str, bytes]]:
    """Exchange handshake messages until neither side has anything to send; the transcript."""
    transcript: list[tuple[str, bytes]] = []
    pending = [bytes(m) for m in out]
    to_device = peer.handshake_out()
    for _ in range(8):
        for message in pending:
            transcript.append(("device", message))
            to_device += peer.deliver(message)
        pending = []
        for message in to_device:
            transcript.append(("reference", message))
            replies, _ = device.client.session_deliver(session, message)
            pending += [bytes(m) for m in replies]
        to_device = []
        if not pending:
            break
    return transcript


def skip_item(data: bytes) -> int:
    """Length of the first CBOR item of ``data`` (to slice PLAINTEXT_x field by field)."""
    decoder = cbor.Decoder(data)
    decoder.read()
    return decoder.position


def start_sending_credential_by_value(
    device: Device, role: str, suites: list[int], kid: bytes
) -> tuple[int, list[bytes], bool]:
    """SESSION_START with ``id_cred = "value"``, or by kid if the device implements only that.

    Returns (session, out, whether the credential goes by value).
    """
    try:
        session, out = start_session(device, role, suites, cred=kid, id_cred="value")
        return session, out, True
    except StatusError as exc:
        if exc.status != 3:  # unsupported option
            raise
    session, out = start_session(device, role, suites, cred=kid)
    return session, out, False
