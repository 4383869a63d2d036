"""Structured security audit events as JSON lines (design decision D6).

One event = one line ``{"ts", "event", "severity", "peer", "suite", "detail"}``,
written and flushed at once, so a SIEM tailing the file never sees half an
event and a crash loses at most the event being written.

The clock is injected (``AuditLog(clock=...)``) or the caller passes ``now``,
so sans-I/O protocol objects can log with the time they were given.

Secrets never reach the log. The rule, enforced by :func:`check_detail`:
``detail`` may hold only JSON scalars, lists and string-keyed maps; a value of
type ``bytes``/``bytearray``/``memoryview`` is *rejected* (``SecretLeakError``),
not hashed — hashing would still turn a low-entropy secret (a PSK, a short
password) into an offline-guessable fingerprint. Callers that want to name a
public value log :func:`fingerprint` of it, or its hex explicitly. As a second
line of defence, detail keys that name secrets (``private``, ``secret``,
``psk``, ``prk``, ``seed``, ``password``, ``master``) and hex/base64 strings
longer than a SHA-256 digest are rejected too.

A sink that cannot take a line (disk full, a bounded buffer that is full)
raises ``OSError``; the log then counts the event as lost instead of failing
the protocol operation that emitted it, and the next line it manages to write
carries the count as ``detail.lost_events`` (REQ-AUDIT-009).
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TextIO

from pqiot.reference.credentials import KeyId
from pqiot.reference.errors import Alert
from pqiot.reference.trust import kid_hex

__all__ = [
    "ALERT_EVENT",
    "AuditEvent",
    "AuditLog",
    "AuditSink",
    "FileSink",
    "MemorySink",
    "SecretLeakError",
    "Severity",
    "StreamSink",
    "check_detail",
    "fingerprint",
    "rfc3339_utc",
]


class AuditEvent(enum.Enum):
    """The D6 event catalogue; values are the names written to the log."""

    KEY_GENERATED = "key_generated"
    PEER_AUTHENTICATED = "peer_authenticated"
    AUTH_FAILED = "auth_failed"
    REPLAY_DROPPED = "replay_dropped"
    DECRYPT_FAILED = "decrypt_failed"
    REKEY = "rekey"
    TOFU_ACCEPT = "tofu_accept"
    LIMIT_EXCEEDED = "limit_exceeded"
    HANDSHAKE_FAILED = "handshake_failed"
    HANDSHAKE_COMPLETED = "handshake_completed"
    RETRY = "retry"
    GIVE_UP = "give_up"


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


#: Severity used when the caller does not choose one.
DEFAULT_SEVERITY: dict[AuditEvent, Severity] = {
    AuditEvent.KEY_GENERATED: Severity.INFO,
    AuditEvent.PEER_AUTHENTICATED: Severity.INFO,
    AuditEvent.AUTH_FAILED: Severity.ERROR,
    AuditEvent.REPLAY_DROPPED: Severity.WARNING,
    AuditEvent.DECRYPT_FAILED: Severity.WARNING,
    AuditEvent.REKEY: Severity.INFO,
    AuditEvent.TOFU_ACCEPT: Severity.WARNING,
    AuditEvent.LIMIT_EXCEEDED: Severity.WARNING,
    AuditEvent.HANDSHAKE_FAILED: Severity.ERROR,
    AuditEvent.HANDSHAKE_COMPLETED: Severity.INFO,
    AuditEvent.RETRY: Severity.INFO,
    AuditEvent.GIVE_UP: Severity.ERROR,
}


#: Spec §10.2, column "audit": the event an alert raised or received produces
#: (REQ-ERR-006). ``decode_error`` and ``message_too_large`` of dropped records and
#: ``message_too_large`` outside a handshake are the callers' business (none /
#: ``limit_exceeded``); this table gives the handshake / session-ending event.
ALERT_EVENT: dict[Alert, AuditEvent] = {
    Alert.UNSPECIFIED_ERROR: AuditEvent.HANDSHAKE_FAILED,
    Alert.DECODE_ERROR: AuditEvent.HANDSHAKE_FAILED,
    Alert.UNEXPECTED_MESSAGE: AuditEvent.HANDSHAKE_FAILED,
    Alert.WRONG_SELECTED_CIPHER_SUITE: AuditEvent.HANDSHAKE_FAILED,
    Alert.UNKNOWN_CREDENTIAL: AuditEvent.AUTH_FAILED,
    Alert.AUTHENTICATION_FAILED: AuditEvent.AUTH_FAILED,
    Alert.DECRYPT_FAILED: AuditEvent.DECRYPT_FAILED,
    Alert.REPLAY_DETECTED: AuditEvent.REPLAY_DROPPED,
    Alert.MESSAGE_TOO_LARGE: AuditEvent.HANDSHAKE_FAILED,
    Alert.UNSUPPORTED_METHOD: AuditEvent.HANDSHAKE_FAILED,
    Alert.TOFU_DISABLED: AuditEvent.AUTH_FAILED,
    Alert.USAGE_LIMIT_REACHED: AuditEvent.LIMIT_EXCEEDED,
    Alert.KEY_UPDATE_FAILED: AuditEvent.HANDSHAKE_FAILED,
    Alert.INTERNAL_ERROR: AuditEvent.HANDSHAKE_FAILED,
}


class SecretLeakError(TypeError):
    """An audit ``detail`` held something that may be key material; nothing was written."""


_SECRET_KEY_NAME = re.compile(r"private|secret|psk|prk|seed|passw|master", re.IGNORECASE)
_LONG_HEX = re.compile(r"[0-9a-fA-F]{65,}")
_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{89,}={0,2}")
_MAX_DEPTH = 8


def fingerprint(data: bytes) -> str:
    """``sha256:<hex>`` of a *public* value (credential, public key) for a detail field."""
    return "sha256:" + hashlib.sha256(bytes(data)).hexdigest()


def rfc3339_utc(now: float) -> str:
    """RFC 3339 timestamp in UTC with millisecond precision, e.g. ``2026-01-02T03:04:05.678Z``."""
    return (
        datetime.fromtimestamp(now, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def check_detail(detail: Mapping[str, object]) -> dict[str, object]:
    """Return a JSON-ready copy of ``detail`` or raise :class:`SecretLeakError` / ``TypeError``."""
    return _checked_map(detail, "detail", 0)


def _checked_map(value: Mapping[str, object], path: str, depth: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"audit {path} keys must be strings, got {type(key).__name__}")
        where = f"{path}.{key}"
        if _SECRET_KEY_NAME.search(key):
            raise SecretLeakError(
                f"audit {where}: the field name suggests secret material; "
                "log a fingerprint or omit it"
            )
        out[key] = _checked_value(item, where, depth + 1)
    return out


def _checked_value(value: object, path: str, depth: int) -> object:
    if depth > _MAX_DEPTH:
        raise TypeError(f"audit {path}: nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise SecretLeakError(
            f"audit {path}: raw bytes are never logged (they may be key material); "
            "pass fingerprint(value) or an explicit hex string of a public value"
        )
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, enum.Enum):
        return _checked_value(value.value, path, depth)
    if isinstance(value, str):
        if _LONG_HEX.search(value) or _LONG_BASE64.search(value):
            raise SecretLeakError(
                f"audit {path}: long hex/base64 string looks like key material; log a fingerprint"
            )
        return value
    if isinstance(value, Mapping):
        return _checked_map(value, path, depth)
    if isinstance(value, (list, tuple)):
        return [_checked_value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise TypeError(f"audit {path}: type {type(value).__name__} is not JSON-serialisable")


class AuditSink(Protocol):
    """Where finished lines go. ``write_line`` gets one line without the newline."""

    def write_line(self, line: str) -> None: ...


class StreamSink:
    """Writes to any text stream (stderr, a socket file, a pipe) and flushes per line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write_line(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()


class FileSink:
    """Appends to a file with one ``write(2)`` per event (O_APPEND keeps lines whole)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write_line(self, line: str) -> None:
        if self._fd is None:
            raise ValueError(f"audit file {self.path} is closed")
        data = memoryview((line + "\n").encode("utf-8"))
        while data:
            data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemorySink:
    """Keeps lines in memory (tests, the conformance harness)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_line(self, line: str) -> None:
        self.lines.append(line)

    @property
    def records(self) -> list[dict[str, object]]:
        """Every event parsed back from its JSON line."""
        return [json.loads(line) for line in self.lines]

    def events(self, event: AuditEvent) -> list[dict[str, object]]:
        """The parsed records of one event type."""
        return [r for r in self.records if r["event"] == event.value]


class AuditLog:
    """Formats, vets and writes audit events.

    ``clock`` supplies the time when ``emit`` is called without ``now``; pass
    ``clock=None`` to force every caller to pass ``now`` (strict sans-I/O use).
    """

    def __init__(
        self, sink: AuditSink | TextIO, *, clock: Callable[[], float] | None = time.time
    ) -> None:
        self._sink: AuditSink = sink if hasattr(sink, "write_line") else StreamSink(sink)
        self._clock = clock
        self._lost = 0

    @property
    def lost_events(self) -> int:
        """Events not written since the last line that was (REQ-AUDIT-009)."""
        return self._lost

    def emit(
        self,
        event: AuditEvent,
        *,
        now: float | None = None,
        severity: Severity | None = None,
        peer: KeyId | None = None,
        suite: int | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> dict[str, object]:
        """Write one event and return the record (also when the sink lost it).

        A sink ``OSError`` never reaches the caller (REQ-AUDIT-009): the event is
        counted as lost and the count rides on the next line that is written.
        """
        if not isinstance(event, AuditEvent):
            raise TypeError(f"audit event must be an AuditEvent, got {event!r}")
        if now is None:
            if self._clock is None:
                raise ValueError("this AuditLog has no clock: pass now=<seconds since the epoch>")
            now = self._clock()
        if suite is not None and (isinstance(suite, bool) or not isinstance(suite, int)):
            raise TypeError(f"audit suite must be an integer suite id, got {suite!r}")
        checked = check_detail(detail or {})
        if self._lost:
            checked["lost_events"] = self._lost
        record: dict[str, object] = {
            "ts": rfc3339_utc(now),
            "event": event.value,
            "severity": (severity or DEFAULT_SEVERITY[event]).value,
            "peer": None if peer is None else kid_hex(peer),
            "suite": suite,
            "detail": checked,
        }
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        try:
            self._sink.write_line(line)
        except OSError:
            self._lost += 1
            return record
        self._lost = 0
        return record
