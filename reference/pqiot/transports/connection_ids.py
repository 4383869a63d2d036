"""Connection identifiers a binding needs to address handshake messages (RFC 9528 App. A.2).

Bindings that carry several sessions over one endpoint (MQTT, CoAP) prefix
message_3 with C_R. The Initiator learns C_R from message_2.
"""

from __future__ import annotations

from pqiot.reference.session import Session

__all__ = ["initiator_c_r"]


def initiator_c_r(session: Session) -> bytes | None:
    """C_R as learnt from message_2, or None before message_2 was processed."""
    return session.peer_connection_id if session.role == "initiator" else None
