"""Typed errors shared by every layer of the reference implementation.

One decode error type (``DecodeError``) for every parser keeps fuzzing honest:
any byte string either decodes or raises it, never anything else.
"""

from __future__ import annotations

import enum


class Alert(enum.Enum):
    """The alert catalogue of spec chapter "Errors"; values are the wire names."""

    UNSPECIFIED_ERROR = "unspecified_error"
    DECODE_ERROR = "decode_error"
    UNEXPECTED_MESSAGE = "unexpected_message"
    WRONG_SELECTED_CIPHER_SUITE = "wrong_selected_cipher_suite"
    UNKNOWN_CREDENTIAL = "unknown_credential"
    AUTHENTICATION_FAILED = "authentication_failed"
    DECRYPT_FAILED = "decrypt_failed"
    REPLAY_DETECTED = "replay_detected"
    MESSAGE_TOO_LARGE = "message_too_large"
    UNSUPPORTED_METHOD = "unsupported_method"
    TOFU_DISABLED = "tofu_disabled"
    USAGE_LIMIT_REACHED = "usage_limit_reached"
    KEY_UPDATE_FAILED = "key_update_failed"
    INTERNAL_ERROR = "internal_error"


class ProtocolError(Exception):
    """A peer (or our own caller) broke a rule of the spec.

    ``alert`` says which rule class, ``requirement`` optionally names the REQ ID.
    """

    def __init__(self, alert: Alert, detail: str = "", requirement: str | None = None) -> None:
        self.alert = alert
        self.detail = detail
        self.requirement = requirement
        text = alert.value if not detail else f"{alert.value}: {detail}"
        if requirement:
            text += f" ({requirement})"
        super().__init__(text)


class DecodeError(ProtocolError):
    """Malformed, truncated, oversize or non-canonical input to a parser."""

    def __init__(self, detail: str, requirement: str | None = None) -> None:
        super().__init__(Alert.DECODE_ERROR, detail, requirement)


class CryptoError(Exception):
    """A cryptographic operation failed (bad key encoding, failed tag check, ...).

    Raised by :mod:`pqiot.reference.crypto`; the protocol layers translate it to
    the right alert (``decrypt_failed``, ``authentication_failed``, ...).
    """


class InvalidTag(CryptoError):
    """AEAD authentication failed: ciphertext, tag, nonce, key or AAD is wrong."""


class UnsupportedAlgorithm(CryptoError):
    """No installed backend implements the requested algorithm."""
