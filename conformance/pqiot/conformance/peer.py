"""The reference implementation as the tester's side of every conversation.

The conformance suite plays the peer of the device with the reference
:class:`~pqiot.reference.session.Session`. Long-term keys come from the
committed protocol vectors (``pqiot.vectors``), so no test pays for key
generation (Falcon-1024 key generation takes minutes in pure Python).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pqiot.reference.credentials import Credential, parse_ccs
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.identity import generate_identity
from pqiot.reference.keystore import KeyStore
from pqiot.reference.session import KIND_HANDSHAKE, KIND_RECORD, Session, SessionState
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.vectors.catalog import DATA_DIR

__all__ = ["Party", "ReferencePeer", "stranger", "suite_parties"]


@dataclass(frozen=True)
class Party:
    """A long-term identity: its credential and private key."""

    credential: Credential
    private_key: bytes


@cache
def suite_parties(suite: int) -> dict[str, Party]:
    """The ``initiator`` and ``responder`` identities of the committed vectors for ``suite``."""
    path = Path(DATA_DIR) / "handshakes" / f"suite{suite}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no protocol vectors for suite {suite}")
    document = json.loads(path.read_text(encoding="utf-8"))
    for record in document["records"]:
        inputs = record["inputs"]
        if inputs.get("method") == 0 and inputs.get("credential_mode") == "kid":
            return {
                role: Party(
                    parse_ccs(bytes.fromhex(inputs[role]["credential"])),
                    bytes.fromhex(inputs[role]["private_key"]),
                )
                for role in ("initiator", "responder")
            }
    raise LookupError(f"{path}: no method-0 kid record to take identities from")


def ml_dsa_65_party(role: str) -> Party:
    """The ML-DSA-65 identity of suite -103: valid keys, but not -102's ML-DSA-44 (REQ-CRED-002)."""
    party = suite_parties(-103)[role]
    assert party.credential.algorithm == -49
    return party


@cache
def stranger(alg: int = -48) -> Party:
    """An identity nobody has allow-listed (unknown-peer tests)."""
    identity = generate_identity(
        alg, subject="stranger.conformance.pqiot", rng=ShakeRng(b"pqiot conformance stranger")
    )
    return Party(identity.credential, identity.private_key)


class ReferencePeer:
    """One reference session with explicit trust; bytes in and out without kind prefixes."""

    def __init__(
        self,
        role: str,
        suites: list[int],
        own: Party,
        trusted: list[Credential],
        *,
        by_value: bool = False,
        message_4: bool = False,
        now: float = 0.0,
        connection_id: bytes | None = None,
    ) -> None:
        self.now = now
        self.provider = SoftwareSecurityProvider()
        key = self.provider.add_signature_key(
            "own", own.credential.algorithm, own.private_key, own.credential.public_key
        )
        store = KeyStore()
        for credential in trusted:
            store.add(credential)
        self.config = HandshakeConfig(
            role="initiator" if role == "initiator" else "responder",
            method=0,
            suites=suites,
            credential=own.credential,
            key=key,
            provider=self.provider,
            resolver=store,
            send_credential_by_value=by_value,
            message_4=message_4,
            connection_id=connection_id,
        )
        handshake = Initiator(self.config) if role == "initiator" else Responder(self.config)
        self.session = Session(handshake)
        self.session.start(now)

    @property
    def established(self) -> bool:
        return self.session.state is SessionState.ESTABLISHED

    def _take(self, kind: int) -> list[bytes]:
        return [p[1:] for p in self.session.data_to_send() if p and p[0] == kind]

    def handshake_out(self) -> list[bytes]:
        return self._take(KIND_HANDSHAKE)

    def deliver(self, message: bytes) -> list[bytes]:
        """A handshake message from the device; returns the reference's replies."""
        self.session.receive(bytes([KIND_HANDSHAKE]) + message, self.now)
        return self.handshake_out()

    def protect(self, data: bytes) -> bytes:
        self.session.send(data, self.now)
        records = self._take(KIND_RECORD)
        assert len(records) == 1, "one application record per send"
        return records[0]

    def unprotect(self, record: bytes) -> list[object]:
        """Feed a device record; returns the events it produced (ApplicationData, ...)."""
        self.session.receive(bytes([KIND_RECORD]) + record, self.now)
        events: list[object] = []
        while (event := self.session.next_event()) is not None:
            events.append(event)
        return events

    def records_out(self) -> list[bytes]:
        return self._take(KIND_RECORD)

    def exporter(self, label: int, context: bytes, length: int) -> bytes:
        result = self.session.handshake_result
        assert result is not None, "exporter only in state DONE"
        return result.secrets.exporter(label, context, length)

    def close(self) -> None:
        self.provider.close()
