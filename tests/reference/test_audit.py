"""Audit events: D6 line format, one flushed line per event, no secrets (REQ-GEN-003)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from pqiot.reference.audit import (
    ALERT_EVENT,
    AuditEvent,
    AuditLog,
    FileSink,
    MemorySink,
    SecretLeakError,
    Severity,
    fingerprint,
    rfc3339_utc,
)

NOW = 1767225600.5  # 2026-01-01T00:00:00.500Z


def test_event_catalogue_is_exactly_d6() -> None:
    assert {e.value for e in AuditEvent} == {
        "key_generated",
        "peer_authenticated",
        "auth_failed",
        "replay_dropped",
        "decrypt_failed",
        "rekey",
        "tofu_accept",
        "limit_exceeded",
        "handshake_failed",
        "handshake_completed",
        "retry",
        "give_up",
    }


def test_line_format_is_exact() -> None:
    sink = MemorySink()
    log = AuditLog(sink, clock=None)
    log.emit(
        AuditEvent.REPLAY_DROPPED,
        now=NOW,
        peer=bytes.fromhex("0102030405060708"),
        suite=-102,
        detail={"seq": 7, "topic": "plant/ä"},
    )
    assert sink.lines == [
        '{"ts":"2026-01-01T00:00:00.500Z","event":"replay_dropped","severity":"warning",'
        '"peer":"0102030405060708","suite":-102,"detail":{"seq":7,"topic":"plant/ä"}}'
    ]


def test_null_peer_and_suite_and_empty_detail() -> None:
    sink = MemorySink()
    AuditLog(sink, clock=lambda: 0.0).emit(AuditEvent.RETRY)
    assert sink.records == [
        {
            "ts": "1970-01-01T00:00:00.000Z",
            "event": "retry",
            "severity": "info",  # §9.2
            "peer": None,
            "suite": None,
            "detail": {},
        }
    ]


def test_integer_kid_is_logged_as_hex_of_its_compact_encoding() -> None:
    """kid -12 is the compact form of h'2b' (RFC 9528 §3.5.3.2)."""
    sink = MemorySink()
    AuditLog(sink, clock=None).emit(AuditEvent.PEER_AUTHENTICATED, now=NOW, peer=-12)
    assert sink.records[0]["peer"] == "2b"


#: Spec §9.2, column "severity" (peer_authenticated: warning only when trust is tofu).
SEVERITY_9_2 = {
    "key_generated": "info",
    "peer_authenticated": "info",
    "auth_failed": "error",
    "replay_dropped": "warning",
    "decrypt_failed": "warning",
    "rekey": "info",
    "tofu_accept": "warning",
    "limit_exceeded": "warning",
    "handshake_failed": "error",
    "handshake_completed": "info",
    "retry": "info",
    "give_up": "error",
}


@pytest.mark.parametrize(
    ("event", "severity"), [(AuditEvent(n), s) for n, s in SEVERITY_9_2.items()]
)
def test_default_severity(event: AuditEvent, severity: str) -> None:
    """REQ-AUDIT-002: each event's severity is the one §9.2 assigns to it."""
    sink = MemorySink()
    AuditLog(sink, clock=None).emit(event, now=NOW)
    assert sink.records[0]["severity"] == severity


def test_every_alert_maps_to_its_10_2_audit_event() -> None:
    """REQ-ERR-006: the "audit" column of chapter 10 §10.2, for all fourteen alerts."""
    assert {alert.value: event.value for alert, event in ALERT_EVENT.items()} == {
        "unspecified_error": "handshake_failed",
        "decode_error": "handshake_failed",
        "unexpected_message": "handshake_failed",
        "wrong_selected_cipher_suite": "handshake_failed",
        "unknown_credential": "auth_failed",
        "authentication_failed": "auth_failed",
        "decrypt_failed": "decrypt_failed",
        "replay_detected": "replay_dropped",
        "message_too_large": "handshake_failed",
        "unsupported_method": "handshake_failed",
        "tofu_disabled": "auth_failed",
        "usage_limit_reached": "limit_exceeded",
        "key_update_failed": "handshake_failed",
        "internal_error": "handshake_failed",
    }


def test_severity_override() -> None:
    sink = MemorySink()
    AuditLog(sink, clock=None).emit(
        AuditEvent.PEER_AUTHENTICATED, now=NOW, severity=Severity.WARNING
    )
    assert sink.records[0]["severity"] == "warning"


def test_rfc3339_is_utc_with_milliseconds() -> None:
    assert rfc3339_utc(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339_utc(1767225599.9994) == "2025-12-31T23:59:59.999Z"


def test_without_clock_the_caller_must_pass_now() -> None:
    log = AuditLog(MemorySink(), clock=None)
    with pytest.raises(ValueError, match="now="):
        log.emit(AuditEvent.REKEY)


@pytest.mark.parametrize(
    "detail",
    [
        {"key": b"\x00" * 32},
        {"nested": {"deep": [1, bytearray(b"k")]}},
        {"view": memoryview(b"abc")},
    ],
)
def test_raw_bytes_are_rejected_and_nothing_is_written(detail: dict[str, object]) -> None:
    """REQ-GEN-003: bytes may be key material, so they are refused, not hashed."""
    sink = MemorySink()
    with pytest.raises(SecretLeakError, match="raw bytes"):
        AuditLog(sink, clock=None).emit(AuditEvent.DECRYPT_FAILED, now=NOW, detail=detail)
    assert sink.lines == []


@pytest.mark.parametrize(
    "name", ["private_key", "psk", "PRK_out", "master_secret", "seed", "password"]
)
def test_secret_field_names_are_rejected(name: str) -> None:
    with pytest.raises(SecretLeakError, match="field name"):
        AuditLog(MemorySink(), clock=None).emit(AuditEvent.REKEY, now=NOW, detail={name: "x"})


def test_long_hex_or_base64_strings_are_rejected_but_fingerprints_pass() -> None:
    log = AuditLog(MemorySink(), clock=None)
    with pytest.raises(SecretLeakError):
        log.emit(AuditEvent.REKEY, now=NOW, detail={"blob": "ab" * 33})
    with pytest.raises(SecretLeakError):
        log.emit(AuditEvent.REKEY, now=NOW, detail={"blob": "QUJD" * 23})
    record = log.emit(AuditEvent.REKEY, now=NOW, detail={"credential": fingerprint(b"public")})
    assert record["detail"] == {"credential": "sha256:" + hashlib.sha256(b"public").hexdigest()}


def test_non_json_values_are_rejected() -> None:
    with pytest.raises(TypeError):
        AuditLog(MemorySink(), clock=None).emit(AuditEvent.REKEY, now=NOW, detail={"x": object()})
    with pytest.raises(TypeError):
        AuditLog(MemorySink(), clock=None).emit(AuditEvent.REKEY, now=NOW, detail={1: "x"})  # type: ignore[dict-item]


def test_newlines_in_detail_never_split_a_line() -> None:
    sink = MemorySink()
    AuditLog(sink, clock=None).emit(AuditEvent.AUTH_FAILED, now=NOW, detail={"reason": "a\nb"})
    assert "\n" not in sink.lines[0]
    assert sink.records[0]["detail"] == {"reason": "a\nb"}


class _CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_text_stream_gets_one_flushed_line_per_event() -> None:
    stream = _CountingStream()
    log = AuditLog(stream, clock=None)
    log.emit(AuditEvent.REKEY, now=NOW)
    log.emit(AuditEvent.GIVE_UP, now=NOW)
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["rekey", "give_up"]
    assert stream.getvalue().endswith("\n")
    assert stream.flushes == 2


def test_file_sink_makes_each_event_visible_immediately(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "events.jsonl"
    with FileSink(path) as sink:
        log = AuditLog(sink, clock=None)
        log.emit(AuditEvent.HANDSHAKE_COMPLETED, now=NOW, suite=-102)
        # Read through a separate handle while the sink is still open.
        assert json.loads(path.read_text("utf-8"))["event"] == "handshake_completed"
        log.emit(AuditEvent.LIMIT_EXCEEDED, now=NOW)
    assert len(path.read_text("utf-8").splitlines()) == 2
    assert path.stat().st_mode & 0o077 == 0


def test_file_sink_appends_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for _ in range(2):
        with FileSink(path) as sink:
            AuditLog(sink, clock=None).emit(AuditEvent.RETRY, now=NOW)
    assert len(path.read_text("utf-8").splitlines()) == 2
