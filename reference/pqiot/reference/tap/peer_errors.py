"""The alert a received EDHOC error message carries, for TAP status 7 (REQ-TAP-013, REQ-ERR-001).

TAP reports every alert by one of the fourteen names of spec §10.2; an error
the peer sent is reported by the alert it names, never by an invented name
such as ``peer_error``. ERR_CODE 1 carries ``"<alert>"`` or ``"<alert>: <detail>"``
in ERR_INFO (§10.1), and an unknown ERR_CODE is read like ERR_CODE 1
(REQ-HS-023); a name outside the catalogue counts as ``unspecified_error``
(REQ-ERR-002).
"""

from __future__ import annotations

from pqiot.reference.cbor import CborValue
from pqiot.reference.errors import Alert

__all__ = ["peer_alert"]

_ERR_CODE_SUITES = 2
_ERR_CODE_UNKNOWN_CREDENTIAL = 3
_ALERT_NAMES = {alert.value: alert for alert in Alert}


def peer_alert(err_code: int, err_info: CborValue) -> Alert:
    """The alert of a received error message (ERR_CODE, ERR_INFO)."""
    if err_code == _ERR_CODE_SUITES:
        return Alert.WRONG_SELECTED_CIPHER_SUITE
    if err_code == _ERR_CODE_UNKNOWN_CREDENTIAL:
        return Alert.UNKNOWN_CREDENTIAL
    if not isinstance(err_info, str):
        return Alert.UNSPECIFIED_ERROR
    name = err_info.split(":", 1)[0]
    return _ALERT_NAMES.get(name, Alert.UNSPECIFIED_ERROR)
