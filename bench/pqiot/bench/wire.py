"""Bytes a handshake puts on the wire, per binding, from the EDHOC messages it exchanged.

The messages are the same whichever binding carries them (they come from TAP's
``out`` and the reference peer), so each binding's cost is its framing applied to
them, computed with the reference framing code:

- ``edhoc``: the EDHOC messages alone;
- ``tcp``: 4-byte length prefix + kind byte + message per message (REQ-TCP-006);
- ``serial``: channel-0 frames (header, CRC-32, COBS, ``00``) of kind + message at
  the default MTU of 256, fragmentation included (§12.1).
"""

from __future__ import annotations

from collections.abc import Sequence

from pqiot.reference.framing.length_prefix import encode_frame
from pqiot.reference.framing.serial_frames import CHANNEL_PROTOCOL, DEFAULT_MTU, encode_message
from pqiot.reference.session import KIND_HANDSHAKE

__all__ = ["BINDINGS", "wire_bytes"]

BINDINGS = ("edhoc", "tcp", "serial")


def wire_bytes(messages: Sequence[bytes], mtu: int = DEFAULT_MTU) -> dict[str, int]:
    """Total bytes of ``messages`` (both directions, in order) on each binding."""
    payloads = [bytes([KIND_HANDSHAKE]) + m for m in messages]
    return {
        "edhoc": sum(len(m) for m in messages),
        "tcp": sum(len(encode_frame(p)) for p in payloads),
        "serial": sum(
            len(encode_message(CHANNEL_PROTOCOL, i % 256, p, mtu)) for i, p in enumerate(payloads)
        ),
    }
