"""OSCORE protection of CoAP requests and responses (RFC 8613 §4, §5, §8).

Class E options, the real code and the payload move into the AEAD plaintext;
Class U options stay outside; the outer code hides the method (POST/FETCH,
2.04/2.05). A response is bound to its request by putting the request's kid
and Partial IV into the AAD, and reuses the request nonce unless it carries
its own Partial IV (§8.3). No Class I options are defined by RFC 8613, so
``options`` in the AAD is always empty.

Scope limits (documented, not silent): Proxy-Uri must be decomposed by the
caller before protecting (§4.1.3.3); Observe is protected as an Inner option
and also copied to the outer message, without the notification-specific
rules of §4.1.3.5.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from pqiot.reference import cbor
from pqiot.reference.cose import enc_structure0
from pqiot.reference.errors import Alert, DecodeError, InvalidTag, ProtocolError
from pqiot.reference.oscore.coap import (
    CoapMessage,
    Option,
    decode_options_and_payload,
    encode_options_and_payload,
)
from pqiot.reference.oscore.context import SecurityContext
from pqiot.reference.oscore.nonce import aead_nonce, piv_from_int, piv_to_int
from pqiot.reference.oscore.option import OscoreOption, decode_option, encode_option

__all__ = [
    "OPTION_OSCORE",
    "ReplayGuard",
    "RequestBinding",
    "aad",
    "external_aad",
    "is_outer_only",
    "protect_request",
    "protect_response",
    "unprotect_request",
    "unprotect_response",
]

OSCORE_VERSION = 1
OPTION_OBSERVE = 6
OPTION_OSCORE = 9
OPTION_PROXY_URI = 35

#: Options that are Class U only (RFC 8613 §4.1, Figure 5); every other option,
#: including unknown ones (§4.1), is protected as Class E.
_CLASS_U_ONLY = frozenset({3, 7, 9, 35, 39})  # Uri-Host, Uri-Port, OSCORE, Proxy-Uri, Proxy-Scheme

_CODE_POST = 0x02
_CODE_FETCH = 0x05
_CODE_CHANGED = 0x44
_CODE_CONTENT = 0x45


class ReplayGuard(Protocol):
    """What request/notification replay protection needs from a window (see ``records.replay``)."""

    def check(self, sequence_number: int) -> bool: ...

    def accept(self, sequence_number: int) -> None: ...


@dataclass(frozen=True)
class RequestBinding:
    """What a response is bound to: the request's kid and Partial IV, and its nonce (§7.1)."""

    kid: bytes
    piv: bytes
    nonce: bytes


def is_outer_only(number: int) -> bool:
    """True for Class U-only options, which stay in the outer message."""
    return number in _CLASS_U_ONLY


def external_aad(ctx: SecurityContext, request_kid: bytes, request_piv: bytes) -> bytes:
    """``aad_array`` = [1, [alg_aead], request_kid, request_piv, h''] encoded as CBOR (§5.4)."""
    return cbor.encode([OSCORE_VERSION, [ctx.aead.cose_alg], request_kid, request_piv, b""])


def aad(ctx: SecurityContext, request_kid: bytes, request_piv: bytes) -> bytes:
    """``Enc_structure`` = ["Encrypt0", h'', external_aad] (§5.4)."""
    return enc_structure0(b"", external_aad(ctx, request_kid, request_piv))


def _split(message: CoapMessage) -> tuple[list[Option], list[Option], bool]:
    inner: list[Option] = []
    outer: list[Option] = []
    observe = False
    for number, value in message.options:
        if number == OPTION_PROXY_URI:
            raise ValueError(
                "decompose Proxy-Uri into Proxy-Scheme and Uri-* options first (RFC 8613 §4.1.3.3)"
            )
        if number == OPTION_OSCORE:
            raise ValueError(
                "the message already carries an OSCORE option; protect the original message"
            )
        if is_outer_only(number):
            outer.append((number, value))
        else:
            inner.append((number, value))
            if number == OPTION_OBSERVE:
                observe = True
                outer.append((number, value))
    return inner, outer, observe


def _seal(
    ctx: SecurityContext, message: CoapMessage, nonce: bytes, kid: bytes, piv: bytes
) -> tuple[bytes, list[Option], bool]:
    inner, outer, observe = _split(message)
    plaintext = bytes([message.code]) + encode_options_and_payload(inner, message.payload)
    ciphertext = ctx.aead.seal(ctx.sender_key, nonce, plaintext, aad(ctx, kid, piv))
    return ciphertext, outer, observe


def protect_request(
    ctx: SecurityContext,
    message: CoapMessage,
    sequence_number: int,
    *,
    send_kid_context: bool = False,
) -> tuple[CoapMessage, RequestBinding]:
    """Protect a request with Sender Sequence Number ``sequence_number`` (§8.1).

    The caller owns the sequence number (and its persistence); the returned
    binding must be kept to verify the response.
    """
    piv = piv_from_int(sequence_number)
    kid = ctx.sender_id
    nonce = aead_nonce(ctx.common_iv, kid, piv)
    ciphertext, outer, observe = _seal(ctx, message, nonce, kid, piv)
    kid_context = ctx.id_context if send_kid_context else None
    if send_kid_context and kid_context is None:
        raise ValueError("send_kid_context needs a context with an ID Context")
    option = encode_option(OscoreOption(piv=piv, kid_context=kid_context, kid=kid))
    protected = replace(
        message,
        code=_CODE_FETCH if observe else _CODE_POST,
        options=(*outer, (OPTION_OSCORE, option)),
        payload=ciphertext,
    )
    return protected, RequestBinding(kid=kid, piv=piv, nonce=nonce)


def protect_response(
    ctx: SecurityContext,
    message: CoapMessage,
    request: RequestBinding,
    sequence_number: int | None = None,
) -> CoapMessage:
    """Protect a response (§8.3): reuse the request nonce, or send our own Partial IV."""
    if sequence_number is None:
        nonce, option = request.nonce, OscoreOption()
    else:
        piv = piv_from_int(sequence_number)
        nonce, option = aead_nonce(ctx.common_iv, ctx.sender_id, piv), OscoreOption(piv=piv)
    ciphertext, outer, observe = _seal(ctx, message, nonce, request.kid, request.piv)
    return replace(
        message,
        code=_CODE_CONTENT if observe else _CODE_CHANGED,
        options=(*outer, (OPTION_OSCORE, encode_option(option))),
        payload=ciphertext,
    )


def _oscore_option(message: CoapMessage) -> OscoreOption:
    values = message.option_values(OPTION_OSCORE)
    if len(values) != 1:
        raise DecodeError(
            f"an OSCORE message carries exactly one OSCORE option, found {len(values)}"
        )
    return decode_option(values[0])


def _open(
    ctx: SecurityContext, message: CoapMessage, nonce: bytes, kid: bytes, piv: bytes
) -> CoapMessage:
    try:
        plaintext = ctx.aead.open(ctx.recipient_key, nonce, message.payload, aad(ctx, kid, piv))
    except InvalidTag:
        raise ProtocolError(
            Alert.DECRYPT_FAILED, "OSCORE message failed authentication (RFC 8613 §8.2 step 6)"
        ) from None
    if not plaintext:
        raise DecodeError("OSCORE plaintext lacks the inner code")
    inner, payload = decode_options_and_payload(plaintext, 1)
    outer = [(n, v) for n, v in message.options if is_outer_only(n) and n != OPTION_OSCORE]
    return replace(
        message,
        code=plaintext[0],
        options=tuple(sorted(outer + list(inner), key=lambda o: o[0])),
        payload=payload,
    )


def unprotect_request(
    ctx: SecurityContext, message: CoapMessage, *, replay: ReplayGuard | None = None
) -> tuple[CoapMessage, RequestBinding]:
    """Verify and decrypt a request (§8.2); mark its Partial IV seen only after the tag verified."""
    option = _oscore_option(message)
    if option.piv is None or option.kid is None:
        raise DecodeError("an OSCORE request carries both Partial IV and kid (RFC 8613 §6.1)")
    if option.kid != ctx.recipient_id or (
        option.kid_context is not None and option.kid_context != ctx.id_context
    ):
        raise ProtocolError(
            Alert.DECRYPT_FAILED,
            "no security context for this kid / kid context (RFC 8613 §8.2 step 2)",
        )
    sequence_number = piv_to_int(option.piv)
    if replay is not None and not replay.check(sequence_number):
        raise ProtocolError(
            Alert.REPLAY_DETECTED, f"Partial IV {sequence_number} already seen (RFC 8613 §7.4)"
        )
    nonce = aead_nonce(ctx.common_iv, option.kid, option.piv)
    plain = _open(ctx, message, nonce, option.kid, option.piv)
    if replay is not None:
        replay.accept(sequence_number)
    return plain, RequestBinding(kid=option.kid, piv=option.piv, nonce=nonce)


def unprotect_response(
    ctx: SecurityContext,
    message: CoapMessage,
    request: RequestBinding,
    *,
    replay: ReplayGuard | None = None,
) -> CoapMessage:
    """Verify and decrypt a response to ``request`` (§8.4)."""
    option = _oscore_option(message)
    if option.piv is None:
        nonce = request.nonce
    else:
        sequence_number = piv_to_int(option.piv)
        if replay is not None and not replay.check(sequence_number):
            raise ProtocolError(
                Alert.REPLAY_DETECTED, f"response Partial IV {sequence_number} already seen"
            )
        nonce = aead_nonce(ctx.common_iv, ctx.recipient_id, option.piv)
    plain = _open(ctx, message, nonce, request.kid, request.piv)
    if option.piv is not None and replay is not None:
        replay.accept(piv_to_int(option.piv))
    return plain
