"""AEAD key usage limits per algorithm (draft-ietf-core-oscore-key-limits, D4).

Source: draft-ietf-core-oscore-key-limits (core-wg/oscore-key-limits,
section "Limits for 'q' and 'v'"), which applies the formulas of
draft-irtf-cfrg-aead-limits:

* AEAD_AES_128_CCM (COSE 30, AES-CCM-16-128-128), AEAD_AES_128_GCM (1),
  AEAD_AES_256_GCM (3), AEAD_CHACHA20_POLY1305 (24):
  q = 2^20, v = 2^20, l = 2^10 AES blocks (IA/CA <= 2^-64);
* AEAD_AES_128_CCM_8 (COSE 10, AES-CCM-16-64-128):
  q = 2^20, v = 2^14, l = 2^8 blocks (IA/CA <= 2^-50; the 8-byte tag makes
  forgeries cheaper, hence the smaller v).

``q`` counts messages encrypted with one Sender Key, ``v`` counts failed
decryptions with one Recipient Key, ``l`` (message length in cipher blocks)
bounds plaintext + tag of one record (``max_message_bytes``, REQ-REC-012).
REQ-REC-012 states ``l`` in bytes, 16 bytes a block for *every* AEAD: 16384
bytes for ChaCha20/Poly1305 too, although its own block is 64 bytes (reading
2^10 ChaCha blocks would allow 65536, four times what the spec permits).
D4 / spec §7.9: at q - floor(q/10) a key update starts; at q the sender stops;
at v the recipient context and the session are discarded.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MIN_CONFIGURED_Q", "UsageLimits", "limits_for", "lowered"]

#: REQ-KU-015: the smallest configurable q; q - floor(q/10) must leave the key_update record
#: (sent at the threshold) below q.
MIN_CONFIGURED_Q = 20


@dataclass(frozen=True)
class UsageLimits:
    """Confidentiality limit ``q``, integrity limit ``v`` and max message size from ``l``."""

    q: int
    v: int
    max_message_bytes: int

    @property
    def key_update_threshold(self) -> int:
        """Sent count at which a key update is due: q - floor(q/10), i.e. 90 % (spec §7.9)."""
        return self.q - self.q // 10


#: The byte size of one block of ``l`` (draft-ietf-core-oscore-key-limits counts 16-byte blocks).
_BLOCK = 16

_LIMITS: dict[int, UsageLimits] = {
    10: UsageLimits(q=1 << 20, v=1 << 14, max_message_bytes=(1 << 8) * _BLOCK),  # AES-CCM-16-64-128
    30: UsageLimits(
        q=1 << 20, v=1 << 20, max_message_bytes=(1 << 10) * _BLOCK
    ),  # AES-CCM-16-128-128
    1: UsageLimits(q=1 << 20, v=1 << 20, max_message_bytes=(1 << 10) * _BLOCK),  # A128GCM
    3: UsageLimits(q=1 << 20, v=1 << 20, max_message_bytes=(1 << 10) * _BLOCK),  # A256GCM
    24: UsageLimits(
        q=1 << 20, v=1 << 20, max_message_bytes=(1 << 10) * _BLOCK
    ),  # ChaCha20/Poly1305: 16384 bytes, REQ-REC-012
}


def lowered(limits: UsageLimits, q: int | None = None, v: int | None = None) -> UsageLimits:
    """``limits`` with q and v lowered by local configuration, never raised (REQ-KU-015).

    A configured value above the table value is capped to it; the key-update threshold
    follows from the resulting q. Raises ValueError for q below 20 or v below 1.
    """
    if q is not None and q < MIN_CONFIGURED_Q:
        raise ValueError(f"a configured limit q must be at least {MIN_CONFIGURED_Q}, got {q}")
    if v is not None and v < 1:
        raise ValueError(f"a configured limit v must be at least 1, got {v}")
    return UsageLimits(
        q=limits.q if q is None else min(q, limits.q),
        v=limits.v if v is None else min(v, limits.v),
        max_message_bytes=limits.max_message_bytes,
    )


def limits_for(cose_alg: int) -> UsageLimits:
    """Usage limits for an AEAD by COSE algorithm id."""
    try:
        return _LIMITS[cose_alg]
    except KeyError:
        raise ValueError(
            f"no usage limits known for AEAD {cose_alg}; "
            "pass explicit UsageLimits(q, v, ...) to the record layer"
        ) from None
