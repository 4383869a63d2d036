"""The alert catalogue of spec chapter 10 and the reference's Alert enum are the same list."""

from __future__ import annotations

import re
from pathlib import Path

from pqiot.reference.errors import Alert, DecodeError, ProtocolError

SPEC = Path(__file__).resolve().parents[2] / "spec" / "10-errors.md"


def _catalogue() -> list[str]:
    rows = re.findall(r"^\| `([a-z_]+)` \|", SPEC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert rows, f"no alert table found in {SPEC}"
    return rows


def test_every_spec_alert_exists_in_the_reference_and_vice_versa() -> None:
    assert sorted(_catalogue()) == sorted(alert.value for alert in Alert)


def test_protocol_errors_render_alert_detail_and_requirement() -> None:
    error = ProtocolError(Alert.REPLAY_DETECTED, "PIV 7 already seen", "REQ-REPLAY-001")
    assert str(error) == "replay_detected: PIV 7 already seen (REQ-REPLAY-001)"
    assert error.alert is Alert.REPLAY_DETECTED


def test_decode_error_is_the_one_parser_error_and_carries_decode_error() -> None:
    error = DecodeError("truncated")
    assert isinstance(error, ProtocolError)
    assert error.alert is Alert.DECODE_ERROR
