"""ERR_INFO text for ERR_CODE 1 error messages (RFC 9528 §6.2, spec REQ-HS-019).

ERR_INFO is ``"<alert_name>"`` or ``"<alert_name>: <detail>"`` and at most 128
bytes. Details come from deep inside decoders and crypto backends and can be
long (an ML-KEM modulus-check failure names the suite and the rule), so the
detail is cut, never the alert name: the peer must still learn which alert
ended the handshake.
"""

from __future__ import annotations

from pqiot.reference.errors import Alert, ProtocolError

__all__ = ["MAX_ERR_INFO_BYTES", "err_info", "shorten"]

#: REQ-HS-019: the longest ERR_INFO text string, in UTF-8 bytes.
MAX_ERR_INFO_BYTES = 128
_ELLIPSIS = "..."


def _cut_detail(alert: Alert, detail: str) -> str:
    """``detail`` shortened so that ``"<alert>: <detail>"`` fits MAX_ERR_INFO_BYTES."""
    room = MAX_ERR_INFO_BYTES - len(alert.value.encode()) - len(": ")
    encoded = detail.encode("utf-8")
    if len(encoded) <= room:
        return detail
    keep = max(room - len(_ELLIPSIS), 0)
    # errors="ignore" drops a UTF-8 sequence the cut split in half.
    return encoded[:keep].decode("utf-8", errors="ignore") + _ELLIPSIS


def err_info(alert: Alert, detail: str = "") -> str:
    """The ERR_INFO text for ``alert``: at most MAX_ERR_INFO_BYTES UTF-8 bytes."""
    if not detail:
        return alert.value
    return f"{alert.value}: {_cut_detail(alert, detail)}"


def shorten(error: ProtocolError) -> ProtocolError:
    """``error`` itself when its ERR_INFO fits, else a copy whose detail is cut to fit."""
    if not error.detail:
        return error
    detail = _cut_detail(error.alert, error.detail)
    if detail == error.detail:
        return error
    return ProtocolError(error.alert, detail, error.requirement)
