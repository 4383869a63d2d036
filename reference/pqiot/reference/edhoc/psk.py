"""Pre-shared keys for the PSK method (draft-ietf-lake-edhoc-psk §3.1, §6).

A PSK comes with ID_CRED_PSK (how message_3 names it) and the two
credentials CRED_I / CRED_R that enter TH_4 and the message_3 AAD. A
resumption PSK (rPSK) also remembers the suite it came from, because the
draft forbids using it with a weaker suite.
"""

from __future__ import annotations

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
        try:
            return self._entries[cbor.encode(id_cred_psk)]
        except (KeyError, ValueError, TypeError):
            raise ProtocolError(Alert.UNKNOWN_CREDENTIAL, "no PSK for this ID_CRED_PSK") from None
