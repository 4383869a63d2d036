"""RFC 8613 Appendix C: every published OSCORE vector, byte for byte.

Vectors are transcribed in ``data/rfc8613_appendix_c.json`` with the section
each one comes from; the tests derive everything from the inputs only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pqiot.reference.crypto import registry
from pqiot.reference.oscore import coap, protect
from pqiot.reference.oscore.context import SecurityContext, derive_context, kdf_info
from pqiot.reference.oscore.nonce import aead_nonce

DATA = json.loads((Path(__file__).parent / "data" / "rfc8613_appendix_c.json").read_text())
DERIVATIONS: dict[str, dict[str, Any]] = {v["section"]: v for v in DATA["key_derivation"]}
REQUESTS: dict[str, dict[str, Any]] = {v["section"]: v for v in DATA["requests"]}


def h(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


def context(vector: dict[str, Any]) -> SecurityContext:
    return derive_context(
        master_secret=bytes.fromhex(vector["master_secret"]),
        master_salt=bytes.fromhex(vector["master_salt"]),
        sender_id=bytes.fromhex(vector["sender_id"]),
        recipient_id=bytes.fromhex(vector["recipient_id"]),
        id_context=h(vector["id_context"]),
        aead=registry.aead(10),
        hkdf=registry.hash_algorithm(-16),
    )


@pytest.mark.parametrize(
    "vector", DATA["key_derivation"], ids=lambda v: v["section"].split(" (")[0]
)
def test_key_derivation(vector: dict[str, Any]) -> None:
    """RFC 8613 §3.2.1: info structures, Sender/Recipient Key, Common IV and PIV-0 nonces."""
    id_context = h(vector["id_context"])
    assert (
        kdf_info(bytes.fromhex(vector["sender_id"]), id_context, 10, "Key", 16).hex()
        == vector["info_sender_key"]
    )
    assert (
        kdf_info(bytes.fromhex(vector["recipient_id"]), id_context, 10, "Key", 16).hex()
        == vector["info_recipient_key"]
    )
    assert kdf_info(b"", id_context, 10, "IV", 13).hex() == vector["info_common_iv"]
    ctx = context(vector)
    assert ctx.sender_key.hex() == vector["sender_key"]
    assert ctx.recipient_key.hex() == vector["recipient_key"]
    assert ctx.common_iv.hex() == vector["common_iv"]
    assert aead_nonce(ctx.common_iv, ctx.sender_id, b"\x00").hex() == vector["sender_nonce_piv0"]
    assert (
        aead_nonce(ctx.common_iv, ctx.recipient_id, b"\x00").hex() == vector["recipient_nonce_piv0"]
    )


@pytest.mark.parametrize("vector", DATA["requests"], ids=lambda v: v["section"].split(" (")[0])
def test_request_protection(vector: dict[str, Any]) -> None:
    """RFC 8613 §8.1 against C.4-C.6: AAD, nonce, option, ciphertext and the whole message."""
    ctx = context(DERIVATIONS[vector["context"]])
    piv, kid = bytes.fromhex(vector["partial_iv"]), bytes.fromhex(vector["kid"])
    assert protect.external_aad(ctx, kid, piv).hex() == vector["aad_array"]
    assert protect.aad(ctx, kid, piv).hex() == vector["aad"]
    unprotected = coap.decode_message(bytes.fromhex(vector["unprotected"]))
    assert coap.encode_message(unprotected).hex() == vector["unprotected"]

    protected, binding = protect.protect_request(
        ctx,
        unprotected,
        vector["sender_sequence_number"],
        send_kid_context=vector["send_kid_context"],
    )

    assert binding.nonce.hex() == vector["nonce"]
    assert protected.option_values(protect.OPTION_OSCORE) == [
        bytes.fromhex(vector["oscore_option"])
    ]
    assert protected.payload.hex() == vector["ciphertext"]
    assert coap.encode_message(protected).hex() == vector["protected"]


@pytest.mark.parametrize("vector", DATA["requests"], ids=lambda v: v["section"].split(" (")[0])
def test_request_verification(vector: dict[str, Any]) -> None:
    """RFC 8613 §8.2: the server side recovers the original request from the published bytes."""
    client = DERIVATIONS[vector["context"]]
    server = dict(client, sender_id=client["recipient_id"], recipient_id=client["sender_id"])
    plain, binding = protect.unprotect_request(
        context(server), coap.decode_message(bytes.fromhex(vector["protected"]))
    )
    assert coap.encode_message(plain).hex() == vector["unprotected"]
    assert binding.piv.hex() == vector["partial_iv"] and binding.kid.hex() == vector["kid"]
    server_ctx = context(server)
    opened = server_ctx.aead.open(
        server_ctx.recipient_key,
        bytes.fromhex(vector["nonce"]),
        bytes.fromhex(vector["ciphertext"]),
        bytes.fromhex(vector["aad"]),
    )
    assert opened.hex() == vector["plaintext"]


@pytest.mark.parametrize("vector", DATA["responses"], ids=lambda v: v["section"].split(" (")[0])
def test_response_protection_and_verification(vector: dict[str, Any]) -> None:
    """RFC 8613 §8.3/§8.4 against C.7 (no Partial IV) and C.8 (own Partial IV)."""
    request = REQUESTS[vector["request"]]
    server_ctx = context(DERIVATIONS[vector["context"]])
    _, binding = protect.protect_request(
        context(DERIVATIONS[request["context"]]),
        coap.decode_message(bytes.fromhex(request["unprotected"])),
        request["sender_sequence_number"],
    )
    assert protect.aad(server_ctx, binding.kid, binding.piv).hex() == vector["aad"]
    response = coap.decode_message(bytes.fromhex(vector["unprotected"]))

    protected = protect.protect_response(
        server_ctx, response, binding, vector["sender_sequence_number"]
    )

    assert protected.option_values(protect.OPTION_OSCORE) == [
        bytes.fromhex(vector["oscore_option"])
    ]
    assert protected.payload.hex() == vector["ciphertext"]
    assert coap.encode_message(protected).hex() == vector["protected"]
    client_ctx = context(DERIVATIONS[request["context"]])
    plain = protect.unprotect_response(
        client_ctx, coap.decode_message(bytes.fromhex(vector["protected"])), binding
    )
    assert coap.encode_message(plain).hex() == vector["unprotected"]
    expected_nonce = (
        binding.nonce
        if vector["partial_iv"] is None
        else aead_nonce(
            server_ctx.common_iv, server_ctx.sender_id, bytes.fromhex(vector["partial_iv"])
        )
    )
    assert expected_nonce.hex() == vector["nonce"]
    assert (
        server_ctx.aead.open(
            server_ctx.sender_key, expected_nonce, protected.payload, bytes.fromhex(vector["aad"])
        ).hex()
        == vector["plaintext"]
    )
