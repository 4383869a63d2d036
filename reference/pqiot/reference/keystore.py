"""KeyStore: which peer credentials we trust, by kid, with optional TOFU (D6).

Policy, in the order it is applied (:meth:`KeyStore.evaluate`):

* kid reference ({4: kid} or compact kid): known kid -> accept, else
  ``unknown_credential``.
* credential by value ({14: CCS}):
  - byte-identical to a stored credential -> accept (allow-list or earlier pin);
  - kid stored with *different* bytes -> ``authentication_failed``, TOFU on or
    off: a stored credential is never replaced from the wire (REQ-KS-004);
  - kid unknown, TOFU off -> ``tofu_disabled`` (REQ-KS-003);
  - kid unknown, TOFU on -> use it for this handshake only. It is pinned by
    :meth:`KeyStore.confirm` once the handshake has verified the peer's
    signature (REQ-KS-005, spec §4.4.1): pinning on sight would let anyone who
    merely *sends* a credential claim a kid. Every pin is audited as a
    ``tofu_accept`` warning.

This is spec chapter 4 §4.4.1's decision table, row by row. A credential the
table accepts is then checked against its ``exp``/``nbf`` claims
(REQ-CRED-008) on the store's wall clock: CWT NumericDates are calendar
seconds, which the monotonic ``now`` that drives session timers is not. A
device without a trustworthy clock passes ``clock=None`` and declares
``no-clock`` (spec §14).

Decisions are computed as :class:`~pqiot.reference.trust.TrustDecision` values
first and applied afterwards, so callers and tests can inspect a decision
without changing the store.

Durability: the whole store is one JSON file replaced with
:func:`~pqiot.reference.storage.atomic_write_bytes` *before* a new pin is
reported as accepted, so a process killed at any instant leaves either the old
or the new file and never loses a pin it acted on. A file that does not parse
is reported with its path and the problem (:class:`KeyStoreError`, alert
``internal_error``, REQ-KS-010), audited as a ``handshake_failed`` error when
the store has an audit log, and is never overwritten. One process owns a
store file at a time.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pqiot.reference.audit import AuditEvent, AuditLog, Severity, fingerprint
from pqiot.reference.credentials import Credential, KeyId, check_validity, parse_ccs
from pqiot.reference.errors import Alert, DecodeError, ProtocolError
from pqiot.reference.storage import atomic_write_bytes
from pqiot.reference.trust import IdCred, TrustBasis, TrustDecision, kid_bytes, split_id_cred

__all__ = ["CredentialSource", "KeyStore", "KeyStoreError", "TrustedCredential"]

STORE_FORMAT = "pqiot-keystore"
STORE_VERSION = 1


class KeyStoreError(Exception):
    """The store file is unusable, or an operator action conflicts with its content.

    Sessions must not start on a store that raised this (REQ-KS-010): report
    ``alert`` to the peer if one is waiting.
    """

    alert = Alert.INTERNAL_ERROR


class CredentialSource(enum.Enum):
    ALLOW_LIST = "allow_list"
    TOFU = "tofu"


@dataclass(frozen=True)
class TrustedCredential:
    credential: Credential
    source: CredentialSource


class KeyStore:
    """Allow-list of peer credentials by kid; implements ``CredentialResolver``.

    ``path`` None keeps the store in memory only. An existing file is loaded
    (and validated) by the constructor; a missing one is created on the first
    change. ``clock`` returns POSIX seconds for the validity check of
    :meth:`resolve`; None skips that check (a device without a trustworthy clock).
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        tofu: bool = False,
        audit: AuditLog | None = None,
        clock: Callable[[], float] | None = time.time,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.tofu = tofu
        self.audit = audit
        self.clock = clock
        self._entries: dict[bytes, TrustedCredential] = {}
        if self.path is not None and self.path.exists():
            try:
                self._entries = _load(self.path)
            except KeyStoreError:
                self._audit_unusable()
                raise

    def _audit_unusable(self) -> None:
        """REQ-KS-010: an unusable store at start-up is audited with severity ``error``.

        The event is ``handshake_failed`` {alert internal_error, origin local, state
        START}: chapter 10 §10.2 maps ``internal_error`` ("KeyStore unusable") to it, and
        no session can start on this store. The firmware audits its refusal the same way.
        The path and the parse problem stay in the KeyStoreError message, not in the log.
        """
        if self.audit is None:
            return
        self.audit.emit(
            AuditEvent.HANDSHAKE_FAILED,
            now=None if self.clock is None else self.clock(),
            severity=Severity.ERROR,
            detail={
                "alert": Alert.INTERNAL_ERROR.value,
                "origin": "local",
                "state": "START",
                "reason": "keystore_unusable",
            },
        )

    # -- inspection --------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, kid: object) -> bool:
        try:
            return kid_bytes(kid) in self._entries  # type: ignore[arg-type]
        except DecodeError:
            return False

    def __iter__(self) -> Iterator[TrustedCredential]:
        return iter(list(self._entries.values()))

    def get(self, kid: KeyId) -> Credential | None:
        entry = self._entries.get(kid_bytes(kid))
        return None if entry is None else entry.credential

    def source(self, kid: KeyId) -> CredentialSource | None:
        entry = self._entries.get(kid_bytes(kid))
        return None if entry is None else entry.source

    # -- operator actions --------------------------------------------------
    def add(
        self, credential: Credential, *, source: CredentialSource = CredentialSource.ALLOW_LIST
    ) -> None:
        """Allow-list ``credential``. Re-adding the identical credential is a no-op;
        a different credential under a stored kid is refused (remove it first).

        A CCS that breaks the shape rules of spec §4.3 (e.g. a 17-byte kid) is
        refused with ``DecodeError`` (REQ-CRED-001/003/004), even when it was
        built in code rather than parsed.
        """
        if not credential.x5t:
            parse_ccs(credential.cred)
        kid = kid_bytes(credential.kid)
        existing = self._entries.get(kid)
        if existing is not None:
            if existing.credential.cred == credential.cred:
                if existing.source is source:
                    return
            else:
                raise KeyStoreError(
                    f"kid {kid.hex()} is already bound to another credential "
                    f"({fingerprint(existing.credential.cred)}); "
                    "remove it first if the peer re-keyed"
                )
        self._commit(kid, TrustedCredential(credential, source))

    def remove(self, kid: KeyId) -> bool:
        """Forget a credential; returns False when the kid was not stored."""
        key = kid_bytes(kid)
        if key not in self._entries:
            return False
        entries = dict(self._entries)
        del entries[key]
        self._persist(entries)
        self._entries = entries
        return True

    # -- trust decisions ---------------------------------------------------
    def evaluate(
        self, id_cred: IdCred, *, by_value_credential: Credential | None = None
    ) -> TrustDecision:
        """Decide about ``id_cred`` without changing anything."""
        kid, by_value = split_id_cred(id_cred, by_value_credential)
        if by_value is not None and kid_bytes(by_value.kid) != kid:
            raise DecodeError("by-value credential kid does not match the ID_CRED kid")
        stored = self._entries.get(kid)
        if by_value is None:
            if stored is None:
                return TrustDecision(
                    TrustBasis.UNKNOWN_KID,
                    kid,
                    alert=Alert.UNKNOWN_CREDENTIAL,
                    detail=f"kid {kid.hex()} is not in the KeyStore",
                )
            return TrustDecision(_basis(stored.source), kid, credential=stored.credential)
        if stored is not None:
            if stored.credential.cred == by_value.cred:
                return TrustDecision(_basis(stored.source), kid, credential=stored.credential)
            return TrustDecision(
                TrustBasis.PINNED_KEY_CONFLICT,
                kid,
                alert=Alert.AUTHENTICATION_FAILED,
                detail=f"kid {kid.hex()} is stored with a different credential",
            )
        if not self.tofu:
            return TrustDecision(
                TrustBasis.TOFU_DISABLED,
                kid,
                alert=Alert.TOFU_DISABLED,
                detail=f"credential for kid {kid.hex()} sent by value and TOFU is off",
            )
        return TrustDecision(TrustBasis.TOFU_NEW, kid, credential=by_value)

    def resolve(self, id_cred: IdCred, *, by_value_credential: Credential | None) -> Credential:
        """``CredentialResolver.resolve``: the credential to verify the peer with, or
        the decision's ``ProtocolError``; ``authentication_failed`` for a credential
        outside its validity period (REQ-CRED-008). Never changes the store."""
        decision = self.evaluate(id_cred, by_value_credential=by_value_credential)
        if decision.credential is None:
            raise ProtocolError(decision.alert or Alert.UNKNOWN_CREDENTIAL, decision.detail)
        if self.clock is not None:
            check_validity(decision.credential, self.clock())
        return decision.credential

    def confirm(self, credential: Credential, *, now: float | None = None) -> bool:
        """``TofuPinning.confirm``: the peer proved possession of ``credential``.

        Pins a by-value credential learned under TOFU (durably, then audits
        ``tofu_accept``) and returns True; returns False when the credential was
        already stored. Raises ``ProtocolError`` when TOFU is off
        (``tofu_disabled``) or the kid got bound to other bytes meanwhile
        (``authentication_failed``).
        """
        kid = kid_bytes(credential.kid)
        stored = self._entries.get(kid)
        if stored is not None:
            if stored.credential.cred == credential.cred:
                return False
            raise ProtocolError(
                Alert.AUTHENTICATION_FAILED,
                f"kid {kid.hex()} is stored with a different credential",
            )
        if not self.tofu:
            raise ProtocolError(Alert.TOFU_DISABLED, f"cannot pin kid {kid.hex()}: TOFU is off")
        self._commit(kid, TrustedCredential(credential, CredentialSource.TOFU))
        if self.audit is not None:
            self.audit.emit(
                AuditEvent.TOFU_ACCEPT,
                now=now,
                peer=kid,
                detail={
                    "subject": credential.subject,
                    "alg": credential.algorithm,
                    "credential": fingerprint(credential.cred),
                },
            )
        return True

    def lookup(self, kid: KeyId) -> Credential:
        """Credential for a kid reference, or ``ProtocolError(unknown_credential)``."""
        return self.resolve(kid_bytes(kid), by_value_credential=None)

    # -- persistence -------------------------------------------------------
    def _commit(self, kid: bytes, entry: TrustedCredential) -> None:
        entries = dict(self._entries)
        entries[kid] = entry
        self._persist(entries)  # durable first, then visible
        self._entries = entries

    def _persist(self, entries: dict[bytes, TrustedCredential]) -> None:
        if self.path is not None:
            atomic_write_bytes(self.path, _dump(entries))

    def save(self) -> None:
        """Write the store file now (e.g. to create an empty one)."""
        if self.path is None:
            raise KeyStoreError("this KeyStore has no file: construct it with a path")
        self._persist(self._entries)


def _basis(source: CredentialSource) -> TrustBasis:
    return (
        TrustBasis.ALLOW_LIST if source is CredentialSource.ALLOW_LIST else TrustBasis.TOFU_PINNED
    )


def _dump(entries: dict[bytes, TrustedCredential]) -> bytes:
    document = {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "credentials": [
            {
                "kid": kid.hex(),
                "source": entry.source.value,
                "subject": entry.credential.subject,
                "alg": entry.credential.algorithm,
                "cred": entry.credential.cred.hex(),
            }
            for kid, entry in sorted(entries.items())
        ],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _load(path: Path) -> dict[bytes, TrustedCredential]:
    def bad(what: str) -> KeyStoreError:
        return KeyStoreError(
            f"KeyStore file {path} is unusable: {what}. The file was left untouched; "
            "restore it from backup or move it away to start an empty store."
        )

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise bad(f"cannot read it ({exc.strerror})") from exc
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise bad("not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    if not isinstance(document, dict):
        raise bad("top level is not a JSON object")
    if document.get("format") != STORE_FORMAT:
        raise bad(f'"format" is {document.get("format")!r}, expected {STORE_FORMAT!r}')
    if document.get("version") != STORE_VERSION:
        raise bad(
            f'unsupported "version" {document.get("version")!r} (this build reads {STORE_VERSION})'
        )
    items = document.get("credentials")
    if not isinstance(items, list):
        raise bad('"credentials" must be a list')
    entries: dict[bytes, TrustedCredential] = {}
    for index, item in enumerate(items):
        where = f"credentials[{index}]"
        if not isinstance(item, dict):
            raise bad(f"{where} is not an object")
        try:
            kid = bytes.fromhex(_text(item, "kid"))
            cred_bytes = bytes.fromhex(_text(item, "cred"))
            source = CredentialSource(_text(item, "source"))
            credential = parse_ccs(cred_bytes)
        except (ValueError, DecodeError) as exc:
            raise bad(f"{where}: {exc}") from exc
        if kid_bytes(credential.kid) != kid:
            raise bad(
                f"{where}: kid {kid.hex()} does not match the credential's kid "
                f"{kid_bytes(credential.kid).hex()}"
            )
        if item.get("alg") != credential.algorithm or item.get("subject") != credential.subject:
            raise bad(f"{where}: alg/subject fields disagree with the credential")
        if kid in entries:
            raise bad(f"{where}: duplicate kid {kid.hex()}")
        entries[kid] = TrustedCredential(credential, source)
    return entries


def _text(item: dict[str, object], field: str) -> str:
    value = item.get(field)
    if not isinstance(value, str):
        raise ValueError(f'field "{field}" must be a string')
    return value
