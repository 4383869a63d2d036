"""Independent cross-check against aiocoap's OSCORE implementation (optional dependency)."""

from __future__ import annotations

import os

import pytest

from pqiot.reference.crypto import registry
from pqiot.reference.oscore import coap, protect
from pqiot.reference.oscore.context import SecurityContext, derive_context

oscore = pytest.importorskip(
    "aiocoap.oscore", reason="aiocoap (with filelock, cbor2) not installed"
)
aiocoap = pytest.importorskip("aiocoap")

# (our COSE id, aiocoap algorithm name)
ALGORITHMS = [
    (10, "AES-CCM-16-64-128"),
    (30, "AES-CCM-16-128-128"),
    (3, "A256GCM"),
    (24, "ChaCha20/Poly1305"),
]


class _AiocoapContext(oscore.CanProtect, oscore.CanUnprotect, oscore.SecurityContextUtils):  # type: ignore[name-defined,misc,unused-ignore]
    """A plain in-memory aiocoap OSCORE context (aiocoap itself only ships file-backed ones)."""

    def __init__(
        self, alg: str, sender_id: bytes, recipient_id: bytes, id_context: bytes | None
    ) -> None:
        self.alg_aead = oscore.algorithms[alg]
        self.hashfun = oscore.hashfunctions["sha256"]
        self.sender_id, self.recipient_id, self.id_context = sender_id, recipient_id, id_context
        self.sender_sequence_number = 0
        self.recipient_replay_window = oscore.ReplayWindow(32, lambda: None)
        self.recipient_replay_window.initialize_empty()

    def post_seqnoincrease(self) -> None:
        pass


def _ours(
    alg: int, secret: bytes, salt: bytes, sid: bytes, rid: bytes, idc: bytes | None
) -> SecurityContext:
    return derive_context(
        master_secret=secret,
        master_salt=salt,
        sender_id=sid,
        recipient_id=rid,
        id_context=idc,
        aead=registry.aead(alg),
        hkdf=registry.hash_algorithm(-16),
    )


@pytest.mark.parametrize(("alg", "name"), ALGORITHMS)
@pytest.mark.parametrize("trial", range(5))
def test_key_derivation_matches_aiocoap_for_random_inputs(alg: int, name: str, trial: int) -> None:
    """RFC 8613 §3.2: our Sender/Recipient Key and Common IV equal aiocoap's for random inputs."""
    secret, salt = os.urandom(16 + 16 * (trial % 2)), os.urandom(trial * 2)
    sid, rid = os.urandom(trial % 3), b"\xff" + os.urandom(trial % 2)
    idc = os.urandom(8) if trial % 2 else None
    theirs = _AiocoapContext(name, sid, rid, idc)
    theirs.derive_keys(salt, secret)
    ours = _ours(alg, secret, salt, sid, rid, idc)
    assert (ours.sender_key, ours.recipient_key, ours.common_iv) == (
        theirs.sender_key,
        theirs.recipient_key,
        theirs.common_iv[: registry.aead(alg).nonce_size],
    )


@pytest.mark.parametrize(("alg", "name"), ALGORITHMS)
def test_request_protected_by_aiocoap_verifies_here_and_response_goes_back(
    alg: int, name: str
) -> None:
    """RFC 8613 §8: aiocoap protects a request, we unprotect it, protect a response, aiocoap verifies it."""
    secret, salt = os.urandom(16), os.urandom(8)
    client = _AiocoapContext(name, b"\x01", b"", None)
    client.derive_keys(salt, secret)
    request = aiocoap.Message(code=aiocoap.GET, uri="coap://localhost/sensors/temp?unit=C")
    protected, request_id = client.protect(request)
    protected.mtype, protected.mid, protected.token = aiocoap.CON, 0x1234, b"\x42"
    server = _ours(alg, secret, salt, b"", b"\x01", None)

    plain, binding = protect.unprotect_request(server, coap.decode_message(protected.encode()))

    assert plain.code == 0x01
    assert plain.option_values(11) == [b"sensors", b"temp"] and plain.option_values(15) == [
        b"unit=C"
    ]
    response = coap.CoapMessage(
        coap.MessageType.ACK, 0x45, plain.message_id, plain.token, ((12, b""),), b"21.5"
    )
    wire = coap.encode_message(protect.protect_response(server, response, binding))
    unprotected, _ = client.unprotect(aiocoap.Message.decode(wire), request_id)
    assert unprotected.code == aiocoap.CONTENT and unprotected.payload == b"21.5"
