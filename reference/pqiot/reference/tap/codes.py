"""TAP command and status codes and the size limits, transcribed from spec chapter 13.

One table per concept so the codec, the reference agent and the HIL client agree
on every number without repeating it.
"""

from __future__ import annotations

import enum

__all__ = [
    "ACCUMULATED_MAX_N",
    "COMMAND_NAMES",
    "MEASURED_EXEMPT",
    "MIN_MAX_TAP_REQUEST",
    "OPTIONAL_COMMANDS",
    "PRIMITIVE_BYTE_ARGS",
    "PRIMITIVE_BYTE_ARG_LIMIT",
    "TAP_VERSION",
    "XOF_MAX_LEN",
    "Command",
    "Status",
]

#: ``"tap"`` in the IDENTIFY result (§13.4).
TAP_VERSION = 1


class Command(enum.IntEnum):
    """Command codes of §13.3."""

    IDENTIFY = 0
    RESET = 1
    ECHO = 2
    MLKEM_KEYGEN = 16
    MLKEM_ENCAPS = 17
    MLKEM_DECAPS = 18
    SIG_KEYGEN = 32
    SIG_SIGN = 33
    SIG_VERIFY = 34
    AEAD_SEAL = 48
    AEAD_OPEN = 49
    HKDF = 56
    KMAC = 57
    HASH = 58
    ACCUMULATED = 64
    CRED_LOAD = 80
    SESSION_START = 81
    SESSION_DELIVER = 82
    APP_SEND = 83
    APP_RECEIVE = 84
    EXPORT = 85
    KEY_UPDATE = 86
    APP_POLL = 87
    SESSION_INFO = 88
    SESSION_CLOSE = 89
    PUBLISH = 90
    SUBSCRIBE_DELIVER = 91
    MEASURE = 96
    AUDIT_READ = 97


class Status(enum.IntEnum):
    """Status codes of §13.2.1."""

    OK = 0
    UNKNOWN_COMMAND = 1
    MALFORMED = 2
    UNSUPPORTED = 3
    TOO_LARGE = 4
    INVALID_STATE = 5
    INVALID_INPUT = 6
    PROTOCOL_ALERT = 7
    BUSY = 8
    INTERNAL = 9


#: Wire-independent names, as the spec tables spell them (reports, CLI output).
COMMAND_NAMES: dict[int, str] = {int(c): c.name for c in Command}

#: Commands MEASURE does not measure (§13.6, REQ-TAP-017).
MEASURED_EXEMPT = frozenset({Command.IDENTIFY, Command.ECHO, Command.MEASURE})

#: Optional commands (§13.3): a DUT lists them in IDENTIFY ``commands`` only if implemented.
OPTIONAL_COMMANDS = frozenset({Command.AUDIT_READ})

#: REQ-TAP-006: ``max_tap_request`` is at least this.
MIN_MAX_TAP_REQUEST = 8192

#: REQ-TAP-007: byte arguments of the primitive commands (16-64) limited to 4096 bytes.
PRIMITIVE_BYTE_ARGS = frozenset(
    {"msg", "pt", "ct", "aad", "data", "ikm", "info", "salt", "key", "custom"}
)
PRIMITIVE_BYTE_ARG_LIMIT = 4096
#: REQ-TAP-007: KMAC and HASH ``len`` at most 1024; ACCUMULATED ``n`` at most 1,000,000.
XOF_MAX_LEN = 1024
ACCUMULATED_MAX_N = 1_000_000
