"""AEAD nonce construction (RFC 8613 §5.2).

The nonce is unique per (key, message) because it packs the ID of the
endpoint that generated the Partial IV together with the Partial IV itself;
XOR with the Common IV only randomises it.
"""

from __future__ import annotations

__all__ = ["MAX_PIV_LENGTH", "aead_nonce", "piv_from_int", "piv_to_int"]

#: The Partial IV is at most 5 bytes (Sender Sequence Number < 2^40, §7.2.1).
MAX_PIV_LENGTH = 5


def piv_from_int(sequence_number: int) -> bytes:
    """Encode a Sender Sequence Number as a Partial IV: minimal big-endian, 0 -> 0x00 (§6.1)."""
    if not 0 <= sequence_number < 1 << (8 * MAX_PIV_LENGTH):
        raise ValueError(
            f"sender sequence number {sequence_number} is outside 0..2^40-1 (RFC 8613 §7.2.1)"
        )
    return sequence_number.to_bytes(max(1, (sequence_number.bit_length() + 7) // 8), "big")


def piv_to_int(piv: bytes) -> int:
    """Decode a Partial IV (1..5 bytes) to its sequence number."""
    if not 1 <= len(piv) <= MAX_PIV_LENGTH:
        raise ValueError(f"a Partial IV is 1..{MAX_PIV_LENGTH} bytes, got {len(piv)}")
    return int.from_bytes(piv, "big")


def aead_nonce(common_iv: bytes, id_piv: bytes, piv: bytes) -> bytes:
    """``Common IV XOR (len(ID_PIV) || pad(ID_PIV) || pad(PIV))`` (§5.2, Figure 8).

    ``id_piv`` is the Sender ID of the endpoint that generated ``piv``.
    """
    nonce_length = len(common_iv)
    id_field = nonce_length - 6
    if len(id_piv) > id_field:
        raise ValueError(f"ID_PIV of {len(id_piv)} bytes does not fit a {nonce_length}-byte nonce")
    if len(piv) > MAX_PIV_LENGTH:
        raise ValueError(f"Partial IV longer than {MAX_PIV_LENGTH} bytes")
    block = (
        bytes([len(id_piv)]) + id_piv.rjust(id_field, b"\x00") + piv.rjust(MAX_PIV_LENGTH, b"\x00")
    )
    return bytes(a ^ b for a, b in zip(block, common_iv, strict=True))
