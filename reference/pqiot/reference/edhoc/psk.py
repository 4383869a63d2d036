"""Pre-shared keys for the PSK method (draft-ietf-lake-edhoc-psk §3.1, §6).

A PSK comes with ID_CRED_PSK (how message_3 names it) and the two
credentials CRED_I / CRED_R that enter TH_4 and the message_3 AAD. A
resumption PSK (rPSK) also remembers the suite it came from, because the
draft forbids using it with a weaker suite.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pqiot.reference import cbor
from pqiot.reference.edhoc.wire import IdCred
from pqiot.reference.errors import Alert, ProtocolError

__all__ = ["PskEntry", "PskStore", "StaticPskStore"]


@dataclass(frozen=True)
class PskEntry:
    id_cred_psk: IdCred
    psk: bytes = field(repr=False)
    cred_i: bytes
    cred_r: bytes
    suite: int | None = None  # set for resumption PSKs: usable with this suite only

    @property
    def key(self) -> bytes:
        """Lookup key: the deterministic encoding of ID_CRED_PSK."""
        return cbor.encode(self.id_cred_psk)


class PskStore(Protocol):
    def lookup(self, id_cred_psk: IdCred) -> PskEntry:
        """Return the PSK named by ID_CRED_PSK or raise ProtocolError(UNKNOWN_CREDENTIAL)."""
        ...


class StaticPskStore:
    """An in-memory PSK table (tests, vectors, a single provisioned device)."""

    def __init__(self, entries: Iterable[PskEntry] = ()) -> None:
        self._entries = {entry.key: entry for entry in entries}

    def add(self, entry: PskEntry) -> None:
        self._entries[entry.key] = entry

    def lookup(self, id_cred_psk: IdCred) -> PskEntry:
        """The entry named by the decrypted ID_CRED_PSK, compared in constant time.

        Why not a dict lookup: the identifier arrives encrypted, and REQ-GEN-004 asks
        for constant-time comparison of PSK identifiers after decryption, so every
        entry is compared with hmac.compare_digest and the loop never stops early.
        """
        try:
            wanted = cbor.encode(id_cred_psk)
        except (ValueError, TypeError):
            wanted = None
        found: PskEntry | None = None
        for key, entry in self._entries.items():
            matches = wanted is not None and hmac.compare_digest(key, wanted)
            found = entry if matches else found
        if found is None:
            raise ProtocolError(Alert.UNKNOWN_CREDENTIAL, "no PSK for this ID_CRED_PSK")
        return found
