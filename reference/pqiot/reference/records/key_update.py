"""Key update bookkeeping: epochs and the key_update / key_update_ack exchange (D4).

The keys themselves come from the session through ``derive_next_epoch(nonce)``
(EDHOC_KeyUpdate, RFC 9528 §4.2.2 / App. H, then the exporter), so this
module only decides *when* to switch and *which* nonce wins:

* the side that sends key_update (epoch e, body = 16-byte nonce) switches
  its sending keys to e+1 right after that record;
* the receiver derives e+1 from the nonce, switches, and answers
  key_update_ack under e+1;
* if both sides start an update in the same epoch, the larger nonce wins
  (equal nonces derive equal keys); the loser abandons its own epoch e+1
  keys and adopts the winner's. ``derive_next_epoch`` must therefore derive
  from the session's *current* epoch without committing: it may be called
  for two nonces in one epoch. The session commits when the layer reports
  :class:`~pqiot.reference.records.layer.KeyUpdateCompleted`.

Which recipient epochs are kept (the previous one until the first valid
record of the new epoch) is the record layer's job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pqiot.reference.errors import Alert, ProtocolError

__all__ = ["MAX_EPOCH", "NONCE_LENGTH", "DeriveNextEpoch", "KeyUpdateState"]

NONCE_LENGTH = 16
#: The epoch travels as a one-byte kid context (D4).
MAX_EPOCH = 0xFF

#: ``derive_next_epoch(nonce) -> (master_secret, master_salt)`` for the next epoch.
DeriveNextEpoch = Callable[[bytes], tuple[bytes, bytes]]


@dataclass
class KeyUpdateState:
    """Sending epoch plus the nonce of our own key_update while its ack is outstanding."""

    epoch: int = 0
    pending_nonce: bytes | None = None

    def _next_epoch(self, base: int) -> int:
        if base + 1 > MAX_EPOCH:
            raise ProtocolError(
                Alert.KEY_UPDATE_FAILED,
                f"key epoch would exceed {MAX_EPOCH}; run a new handshake instead",
            )
        return base + 1

    def start(self, nonce: bytes) -> int:
        """Begin our own update; return the new sending epoch."""
        if len(nonce) != NONCE_LENGTH:
            raise ValueError(f"key_update nonce must be {NONCE_LENGTH} bytes, got {len(nonce)}")
        if self.pending_nonce is not None:
            raise ProtocolError(
                Alert.KEY_UPDATE_FAILED, "a key update is already waiting for its ack"
            )
        self.epoch = self._next_epoch(self.epoch)
        self.pending_nonce = bytes(nonce)
        return self.epoch

    def on_key_update(self, record_epoch: int, nonce: bytes) -> bool:
        """Peer's key_update sent in ``record_epoch``; True: derive epoch record_epoch+1 from nonce.

        After a True result the update is complete from our side (we answer with an ack).
        """
        if self.pending_nonce is None:
            if record_epoch != self.epoch:
                return False  # stale: an update we already followed
            self.epoch = self._next_epoch(self.epoch)
            return True
        if record_epoch + 1 != self.epoch:
            return False
        if nonce >= self.pending_nonce:  # simultaneous update: larger nonce wins
            self.pending_nonce = None
            return True
        return False  # ours wins; the peer adopts it and acks

    def on_peer_record(self, record_epoch: int) -> bool:
        """A valid peer record of ``record_epoch`` arrived; True when that completes our update."""
        if self.pending_nonce is not None and record_epoch == self.epoch:
            self.pending_nonce = None
            return True
        return False
