"""Persisted OSCORE contexts of a CoAP server (spec §7.7, REQ-COAP-008).

A server that keeps its OSCORE sessions across a restart stores, per
context, the EDHOC-exported Master Secret and Salt with the IDs and suite
(enough to re-derive the keys, RFC 8613 §3.2), and its counters "K ahead"
(:mod:`pqiot.reference.records.persistence`): the sender sequence number,
which is also count_q, and count_v (REQ-KU-013). The replay window is not
stored: after a restart the server re-synchronises it with the Echo option
(RFC 8613 Appendix B.1.2), see :mod:`pqiot.transports.coap_echo`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pqiot.reference import suites as suite_registry
from pqiot.reference.oscore.context import SecurityContext, derive_context
from pqiot.reference.records.persistence import (
    FileSequenceStore,
    MemorySequenceStore,
    SequenceStore,
)
from pqiot.reference.storage import atomic_write_bytes

__all__ = [
    "CoapContextStore",
    "FileContextStore",
    "MemoryContextStore",
    "StoredContext",
]


@dataclass(frozen=True)
class StoredContext:
    """What re-creates one endpoint's OSCORE security context after a restart."""

    suite_id: int
    master_secret: bytes
    master_salt: bytes
    sender_id: bytes
    recipient_id: bytes

    def derive(self) -> SecurityContext:
        suite = suite_registry.get(self.suite_id)
        return derive_context(
            master_secret=self.master_secret,
            master_salt=self.master_salt,
            sender_id=self.sender_id,
            recipient_id=self.recipient_id,
            aead=suite.application_aead(),
            hkdf=suite.application_hash(),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "suite": self.suite_id,
            "master_secret": self.master_secret.hex(),
            "master_salt": self.master_salt.hex(),
            "sender_id": self.sender_id.hex(),
            "recipient_id": self.recipient_id.hex(),
        }

    @classmethod
    def from_json(cls, raw: object) -> StoredContext:
        if not isinstance(raw, dict):
            raise ValueError("a stored OSCORE context is a JSON object")
        try:
            return cls(
                suite_id=int(raw["suite"]),
                master_secret=bytes.fromhex(str(raw["master_secret"])),
                master_salt=bytes.fromhex(str(raw["master_salt"])),
                sender_id=bytes.fromhex(str(raw["sender_id"])),
                recipient_id=bytes.fromhex(str(raw["recipient_id"])),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"malformed stored OSCORE context: {exc}") from exc


class CoapContextStore(Protocol):
    """Durable OSCORE contexts keyed by the server's Recipient ID (the kid clients send)."""

    @property
    def counters(self) -> SequenceStore: ...

    def load(self) -> dict[bytes, StoredContext]: ...

    def save(self, kid: bytes, context: StoredContext) -> None: ...

    def delete(self, kid: bytes) -> None: ...


class MemoryContextStore:
    """Survives a server object, not the process: for tests and restart drills."""

    def __init__(self) -> None:
        self._contexts: dict[bytes, StoredContext] = {}
        self._counters = MemorySequenceStore()

    @property
    def counters(self) -> MemorySequenceStore:
        return self._counters

    def load(self) -> dict[bytes, StoredContext]:
        return dict(self._contexts)

    def save(self, kid: bytes, context: StoredContext) -> None:
        self._contexts[kid] = context

    def delete(self, kid: bytes) -> None:
        self._contexts.pop(kid, None)


class FileContextStore:
    """``contexts.json`` (mode 0600: master secrets) and ``counters.json`` in one directory."""

    def __init__(self, directory: Path) -> None:
        self._directory = Path(directory)
        self._directory.mkdir(parents=True, exist_ok=True)
        self._path = self._directory / "contexts.json"
        self._counters = FileSequenceStore(self._directory / "counters.json")
        self._contexts: dict[bytes, StoredContext] = {}
        if self._path.exists():
            try:
                raw = json.loads(self._path.read_text(encoding="utf-8"))
                if not isinstance(raw, dict):
                    raise ValueError("not a JSON object")
                self._contexts = {
                    bytes.fromhex(kid): StoredContext.from_json(value) for kid, value in raw.items()
                }
            except (OSError, ValueError) as exc:
                raise ValueError(
                    f"OSCORE context store {self._path} is unreadable ({exc}); delete the "
                    "directory and let the clients run a new handshake"
                ) from exc

    @property
    def counters(self) -> FileSequenceStore:
        return self._counters

    def load(self) -> dict[bytes, StoredContext]:
        return dict(self._contexts)

    def _write(self, contexts: dict[bytes, StoredContext]) -> None:
        data = {kid.hex(): context.to_json() for kid, context in contexts.items()}
        atomic_write_bytes(self._path, json.dumps(data, sort_keys=True).encode("utf-8"))
        self._contexts = contexts

    def save(self, kid: bytes, context: StoredContext) -> None:
        self._write({**self._contexts, kid: context})

    def delete(self, kid: bytes) -> None:
        if kid in self._contexts:
            self._write({k: v for k, v in self._contexts.items() if k != kid})
