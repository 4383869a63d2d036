"""The SecurityProvider boundary: every private-key operation goes through it.

Protocol code never holds a long-term private key; it holds a ``KeyRef`` and
asks the provider to sign, decapsulate or do a static DH. That keeps the door
open for keys that live in a TPM, an HSM or a secure element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class KeyRef:
    """An opaque handle to a private key held by a provider."""

    label: str
    algorithm: int  # COSE alg id (signature), or key-exchange / KEM id


class SecurityProvider(Protocol):
    """Private-key operations, by reference."""

    def sign(self, key: KeyRef, message: bytes) -> bytes:
        """Sign ``message`` with the referenced signature key."""
        ...

    def decapsulate(self, key: KeyRef, ciphertext: bytes) -> bytes:
        """Decapsulate with the referenced KEM key."""
        ...

    def dh(self, key: KeyRef, peer_public_key: bytes) -> bytes:
        """Static Diffie-Hellman with the referenced key (check-only classical methods)."""
        ...

    def public_key(self, key: KeyRef) -> bytes:
        """The public half of the referenced key."""
        ...
