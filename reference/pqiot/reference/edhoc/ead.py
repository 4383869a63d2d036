"""Which received EAD items a party keeps, ignores or aborts on (RFC 9528 §3.8, REQ-HS-020).

The abort text is normative: a conformance test compares ERR_INFO byte for
byte, so it is built in exactly one place.
"""

from __future__ import annotations

from collections.abc import Collection

from pqiot.reference.edhoc.wire import EadItem
from pqiot.reference.errors import Alert, ProtocolError

__all__ = ["check_ead", "unsupported_critical_ead"]


def unsupported_critical_ead(label: int) -> ProtocolError:
    """The abort for a critical item we do not support.

    ERR_INFO becomes ``unspecified_error: unsupported critical EAD <label>``
    (spec §5, REQ-HS-020), whichever message (EAD_1 .. EAD_4) carried it.
    """
    return ProtocolError(Alert.UNSPECIFIED_ERROR, f"unsupported critical EAD {label}", "REQ-HS-020")


def check_ead(items: tuple[EadItem, ...], supported: Collection[int]) -> tuple[EadItem, ...]:
    """Keep supported items, drop unknown non-critical ones (padding included), abort on the rest.

    ``supported`` holds non-negative labels: an item is supported when the
    absolute value of its label is in it (a critical item is the negated label).
    """
    kept: list[EadItem] = []
    for item in items:
        if abs(item.label) in supported:
            kept.append(item)
        elif item.critical:
            raise unsupported_critical_ead(item.label)
    return tuple(kept)
