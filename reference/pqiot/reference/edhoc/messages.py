"""Encoders and strict decoders of the EDHOC messages (RFC 9528 §5, §6; EDHOC-PSK §5).

Decoders raise only :class:`~pqiot.reference.errors.DecodeError` (its
:class:`MessageTooLarge` subclass carries the ``message_too_large`` alert), so
a fuzzer can feed any bytes to any of them. Lengths that depend on the suite
(G_X, G_Y) are checked here too, given the expected size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.edhoc.wire import (
    EadItem,
    IdCred,
    decode_connection_id,
    decode_ead,
    decode_id_cred,
    encode_connection_id,
    encode_ead,
    encode_id_cred_compact,
)
from pqiot.reference.errors import Alert, DecodeError, ProtocolError

__all__ = [
    "MAX_MESSAGE_SIZE",
    "ErrorMessage",
    "Message1",
    "MessageTooLarge",
    "Plaintext2",
    "Plaintext3",
    "Plaintext3A",
    "check_size",
    "decode_error_message",
    "decode_message_1",
    "decode_message_2",
    "decode_plaintext_2",
    "decode_plaintext_2a",
    "decode_plaintext_3",
    "decode_plaintext_3a",
    "decode_plaintext_4",
    "decode_single_bstr",
    "encode_error_message",
    "encode_message_1",
    "encode_message_2",
    "encode_plaintext_2",
    "encode_plaintext_2a",
    "encode_plaintext_3",
    "encode_plaintext_3a",
    "require_length",
]

#: D3: a handshake message larger than this is rejected with ``message_too_large``.
MAX_MESSAGE_SIZE = 16384

# ERR_CODE values (RFC 9528 §6).
ERR_CODE_UNSPECIFIED = 1
ERR_CODE_WRONG_SELECTED_CIPHER_SUITE = 2
ERR_CODE_UNKNOWN_CREDENTIAL = 3


class MessageTooLarge(DecodeError):
    """A handshake message above :data:`MAX_MESSAGE_SIZE` (alert ``message_too_large``)."""

    def __init__(self, size: int, limit: int = MAX_MESSAGE_SIZE) -> None:
        ProtocolError.__init__(
            self,
            Alert.MESSAGE_TOO_LARGE,
            f"{size} bytes exceeds the {limit}-byte handshake message limit",
            "D3",
        )


def check_size(data: bytes) -> None:
    if len(data) > MAX_MESSAGE_SIZE:
        raise MessageTooLarge(len(data))


def require_length(value: bytes, expected: int, what: str) -> None:
    """Suite-dependent length check (G_X, G_Y, ...)."""
    if len(value) != expected:
        raise DecodeError(
            f"{what} must be {expected} bytes for the selected suite, got {len(value)}"
        )


def _finish(decoder: cbor.Decoder, what: str) -> None:
    if not decoder.at_end():
        raise DecodeError(f"{decoder.remaining()} trailing bytes after {what}")


# message_1 = (METHOD, SUITES_I, G_X, C_I, ? EAD_1)


@dataclass(frozen=True)
class Message1:
    method: int
    suites_i: tuple[int, ...]
    g_x: bytes
    c_i: bytes
    ead_1: tuple[EadItem, ...] = ()

    @property
    def selected_suite(self) -> int:
        """The selected suite is the last one in SUITES_I (RFC 9528 §5.2.2)."""
        return self.suites_i[-1]


def _encode_suites(suites: Sequence[int]) -> CborValue:
    if not suites:
        raise ValueError("SUITES needs at least one cipher suite")
    return suites[0] if len(suites) == 1 else list(suites)


def _decode_suites(value: CborValue, what: str) -> tuple[int, ...]:
    """suites = [2* int] / int."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, list) and len(value) >= 2:
        if all(isinstance(s, int) and not isinstance(s, bool) for s in value):
            return tuple(int(s) for s in value)  # type: ignore[arg-type]
        raise DecodeError(f"{what} array must contain only integers")
    raise DecodeError(f"{what} must be an int or an array of at least two ints")


def encode_message_1(message: Message1) -> bytes:
    return (
        cbor.encode_sequence(message.method, _encode_suites(message.suites_i), message.g_x)
        + encode_connection_id(message.c_i)
        + encode_ead(message.ead_1)
    )


def decode_message_1(data: bytes) -> Message1:
    check_size(data)
    decoder = cbor.Decoder(data)
    method = decoder.read_int("METHOD")
    suites_i = _decode_suites(decoder.read(), "SUITES_I")
    g_x = decoder.read_bytes("G_X")
    c_i = decode_connection_id(decoder.read(), "C_I")
    ead_1 = decode_ead(decoder, "EAD_1")
    return Message1(method, suites_i, g_x, c_i, ead_1)


# message_2 = (G_Y_CIPHERTEXT_2); message_3 = (CIPHERTEXT_3); message_4 = (CIPHERTEXT_4)


def encode_message_2(g_y: bytes, ciphertext_2: bytes) -> bytes:
    return cbor.encode(g_y + ciphertext_2)


def decode_single_bstr(data: bytes, what: str) -> bytes:
    """message_3 / message_4: a CBOR sequence holding exactly one byte string."""
    check_size(data)
    decoder = cbor.Decoder(data)
    value = decoder.read_bytes(what)
    _finish(decoder, what)
    return value


def decode_message_2(data: bytes, g_y_length: int) -> tuple[bytes, bytes]:
    """Split G_Y_CIPHERTEXT_2 into (G_Y, CIPHERTEXT_2); the suite fixes G_Y's length."""
    value = decode_single_bstr(data, "G_Y_CIPHERTEXT_2")
    if len(value) <= g_y_length:
        raise DecodeError(
            f"G_Y_CIPHERTEXT_2 has {len(value)} bytes, needs more than the "
            f"{g_y_length}-byte G_Y of the selected suite"
        )
    return value[:g_y_length], value[g_y_length:]


# PLAINTEXT_2 = (C_R, ID_CRED_R / bstr / -24..23, Signature_or_MAC_2, ? EAD_2)


@dataclass(frozen=True)
class Plaintext2:
    c_r: bytes
    id_cred_r: IdCred
    signature_or_mac_2: bytes
    ead_2: tuple[EadItem, ...] = ()


def encode_plaintext_2(
    c_r: bytes, id_cred_r: IdCred, signature_or_mac_2: bytes, ead_2: bytes
) -> bytes:
    return (
        encode_connection_id(c_r)
        + encode_id_cred_compact(id_cred_r)
        + cbor.encode(signature_or_mac_2)
        + ead_2
    )


def decode_plaintext_2(data: bytes) -> Plaintext2:
    decoder = cbor.Decoder(data)
    c_r = decode_connection_id(decoder.read(), "C_R")
    id_cred_r = decode_id_cred(decoder.read(), "ID_CRED_R")
    signature_or_mac_2 = decoder.read_bytes("Signature_or_MAC_2")
    ead_2 = decode_ead(decoder, "EAD_2")
    return Plaintext2(c_r, id_cred_r, signature_or_mac_2, ead_2)


def encode_plaintext_2a(c_r: bytes, ead_2: bytes) -> bytes:
    """PSK method: PLAINTEXT_2A = (C_R, ? EAD_2)."""
    return encode_connection_id(c_r) + ead_2


def decode_plaintext_2a(data: bytes) -> tuple[bytes, tuple[EadItem, ...]]:
    decoder = cbor.Decoder(data)
    c_r = decode_connection_id(decoder.read(), "C_R")
    return c_r, decode_ead(decoder, "EAD_2")


# PLAINTEXT_3 = (ID_CRED_I / bstr / -24..23, Signature_or_MAC_3, ? EAD_3)


@dataclass(frozen=True)
class Plaintext3:
    id_cred_i: IdCred
    signature_or_mac_3: bytes
    ead_3: tuple[EadItem, ...] = ()


def encode_plaintext_3(id_cred_i: IdCred, signature_or_mac_3: bytes, ead_3: bytes) -> bytes:
    return encode_id_cred_compact(id_cred_i) + cbor.encode(signature_or_mac_3) + ead_3


def decode_plaintext_3(data: bytes) -> Plaintext3:
    decoder = cbor.Decoder(data)
    id_cred_i = decode_id_cred(decoder.read(), "ID_CRED_I")
    signature_or_mac_3 = decoder.read_bytes("Signature_or_MAC_3")
    return Plaintext3(id_cred_i, signature_or_mac_3, decode_ead(decoder, "EAD_3"))


# PSK method: PLAINTEXT_3A = (ID_CRED_PSK / bstr / -24..23, CIPHERTEXT_3B)


@dataclass(frozen=True)
class Plaintext3A:
    id_cred_psk: IdCred
    ciphertext_3b: bytes


def encode_plaintext_3a(id_cred_psk: IdCred, ciphertext_3b: bytes) -> bytes:
    return encode_id_cred_compact(id_cred_psk) + cbor.encode(ciphertext_3b)


def decode_plaintext_3a(data: bytes) -> Plaintext3A:
    decoder = cbor.Decoder(data)
    id_cred_psk = decode_id_cred(decoder.read(), "ID_CRED_PSK")
    ciphertext_3b = decoder.read_bytes("CIPHERTEXT_3B")
    _finish(decoder, "PLAINTEXT_3A")
    return Plaintext3A(id_cred_psk, ciphertext_3b)


def decode_plaintext_4(data: bytes, what: str = "PLAINTEXT_4") -> tuple[EadItem, ...]:
    """PLAINTEXT_4 (and the PSK PLAINTEXT_3B) = (? EAD_x)."""
    return decode_ead(cbor.Decoder(data), what)


# error = (ERR_CODE, ERR_INFO)


@dataclass(frozen=True)
class ErrorMessage:
    err_code: int
    err_info: CborValue

    @property
    def suites_r(self) -> tuple[int, ...]:
        """SUITES_R of an ERR_CODE 2 error (RFC 9528 §6.3)."""
        return _decode_suites(self.err_info, "SUITES_R")


def encode_error_message(err_code: int, err_info: CborValue) -> bytes:
    return cbor.encode_sequence(err_code, err_info)


def suites_r_info(suites: Sequence[int]) -> CborValue:
    """ERR_INFO of ERR_CODE 2: SUITES_R, an int when there is one suite."""
    return _encode_suites(suites)


def decode_error_message(data: bytes) -> ErrorMessage:
    """Strict: ERR_CODE 1 carries a tstr, 2 carries SUITES_R, 3 carries true (RFC 9528 §6.2-6.4)."""
    check_size(data)
    decoder = cbor.Decoder(data)
    err_code = decoder.read_int("ERR_CODE")
    err_info = decoder.read()
    _finish(decoder, "error message")
    if err_code == 0:
        raise DecodeError("ERR_CODE 0 is not an error code (REQ-HS-023)")
    if err_code == ERR_CODE_UNSPECIFIED and not isinstance(err_info, str):
        raise DecodeError("ERR_INFO of ERR_CODE 1 must be a text string")
    if err_code == ERR_CODE_WRONG_SELECTED_CIPHER_SUITE:
        _decode_suites(err_info, "SUITES_R")
    if err_code == ERR_CODE_UNKNOWN_CREDENTIAL and err_info is not True:
        raise DecodeError("ERR_INFO of ERR_CODE 3 must be true")
    return ErrorMessage(err_code, err_info)
