"""Connection identifiers a binding needs to address handshake messages (RFC 9528 App. A.2).

Bindings that carry several sessions over one endpoint (MQTT, CoAP) prefix
message_3 with C_R. The Initiator learns C_R from message_2; until the
handshake core exposes it publicly, this is the one place that reads it.
"""

from __future__ import annotations

from pqiot.reference.session import Session

__all__ = ["initiator_c_r"]


def initiator_c_r(session: Session) -> bytes | None:
    """C_R as learnt from message_2, or None before message_2 was processed."""
    if session.handshake_result is not None:
        return session.handshake_result.c_r
    state = getattr(session._handshake, "_session", None)  # no public accessor yet
    c_r = getattr(state, "c_r", b"")
    return bytes(c_r) or None
