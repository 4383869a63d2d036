"""Everything one side of a handshake needs to know before it starts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pqiot.reference import suites as suite_registry
from pqiot.reference.credentials import Credential
from pqiot.reference.crypto.interfaces import Rng
from pqiot.reference.crypto.rng import system_rng
from pqiot.reference.edhoc.psk import PskEntry, PskStore
from pqiot.reference.edhoc.wire import EadItem
from pqiot.reference.security_provider import KeyRef, SecurityProvider
from pqiot.reference.suites import METHOD_PSK, METHOD_SIGNATURE, METHOD_STATIC_DH, CipherSuite
from pqiot.reference.trust import CredentialResolver

__all__ = ["CredentialResolver", "HandshakeConfig"]

Role = Literal["initiator", "responder"]


@dataclass(frozen=True)
class HandshakeConfig:
    """One side's configuration.

    ``suites`` is the preference order (most preferred first); the initiator
    offers from it, the responder accepts from it. ``connection_id`` is the raw
    C_I / C_R (None: drawn from ``rng``); ``retry_connection_id`` is the C_I of
    a message_1 retried after ERR_CODE 2. ``message_4``: the responder sends
    and the initiator waits for message_4 (always on in the PSK method).
    ``trace``, when given, receives every intermediate value (vectors).
    ``admit`` (Responder): asked before a message_1 is processed whether the
    endpoint may hold one more session in WAIT_M3; False answers
    ``unspecified_error: busy`` (REQ-HS-036). The bound spans sessions, so the
    endpoint that holds them (a server, the test agent) supplies it.
    """

    role: Role
    method: int
    suites: Sequence[CipherSuite | int]
    credential: Credential | None = None
    key: KeyRef | None = None
    provider: SecurityProvider | None = None
    resolver: CredentialResolver | None = None
    psk: PskEntry | None = None
    psk_store: PskStore | None = None
    connection_id: bytes | None = None
    retry_connection_id: bytes | None = None
    rng: Rng = system_rng
    send_credential_by_value: bool = False
    message_4: bool = False
    ead_1: tuple[EadItem, ...] = ()
    ead_2: tuple[EadItem, ...] = ()
    ead_3: tuple[EadItem, ...] = ()
    ead_4: tuple[EadItem, ...] = ()
    supported_ead_labels: frozenset[int] = frozenset()
    trace: dict[str, bytes] | None = field(default=None, compare=False)
    admit: Callable[[], bool] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        resolved = tuple(
            s if isinstance(s, CipherSuite) else suite_registry.get(s) for s in self.suites
        )
        object.__setattr__(self, "suites", resolved)
        self._validate()

    @property
    def cipher_suites(self) -> tuple[CipherSuite, ...]:
        return tuple(self.suites)  # type: ignore[arg-type]  # resolved in __post_init__

    @property
    def expects_message_4(self) -> bool:
        return self.message_4 or self.method == METHOD_PSK

    def _validate(self) -> None:
        if self.role not in ("initiator", "responder"):
            raise ValueError(f"role must be 'initiator' or 'responder', got {self.role!r}")
        if self.method not in (METHOD_SIGNATURE, METHOD_STATIC_DH, METHOD_PSK):
            raise ValueError(
                f"method {self.method} is not implemented; "
                "use 0 (signature), 3 (static DH) or 4 (PSK)"
            )
        if not self.cipher_suites:
            raise ValueError("configure at least one cipher suite")
        forbidden = [s.id for s in self.cipher_suites if self.method not in s.allowed_methods]
        if forbidden:
            raise ValueError(
                f"method {self.method} is not allowed with suite(s) {forbidden} (D3); remove them"
            )
        if self.method == METHOD_PSK:
            if self.role == "initiator" and self.psk is None:
                raise ValueError("the PSK method needs psk=PskEntry(...) on the initiator")
            if self.role == "responder" and self.psk_store is None:
                raise ValueError("the PSK method needs psk_store=... on the responder")
        else:
            missing = [
                n for n in ("credential", "key", "provider", "resolver") if getattr(self, n) is None
            ]
            if missing:
                raise ValueError(
                    f"method {self.method} needs {', '.join(missing)} in the HandshakeConfig"
                )
