"""Trust decisions about peer credentials, shared by the handshake and pub/sub.

The handshake (and the pub/sub verifier) must not care *how* trust is stored:
they hand an ``ID_CRED_x`` to a :class:`CredentialResolver` and get back the
credential to verify against, or a :class:`~pqiot.reference.errors.ProtocolError`
carrying the alert to send. :class:`pqiot.reference.keystore.KeyStore` is the
reference implementation; a device may implement the same protocol over a
secure element.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pqiot.reference import cbor
from pqiot.reference.cose import HEADER_KCCS, HEADER_KID
from pqiot.reference.credentials import Credential, KeyId, parse_ccs
from pqiot.reference.errors import Alert, DecodeError

__all__ = [
    "CredentialResolver",
    "IdCred",
    "TofuPinning",
    "TrustBasis",
    "TrustDecision",
    "kid_bytes",
    "kid_hex",
    "split_id_cred",
]

#: ID_CRED_x as it comes off the wire: a header map ({4: kid} or {14: CCS}), or
#: the compact form of {4: kid} (RFC 9528 §3.5.3.2): the kid itself.
IdCred = Mapping[Any, object] | bytes | int


class CredentialResolver(Protocol):
    """Maps an ID_CRED_x to the credential the peer must prove possession of."""

    def resolve(self, id_cred: IdCred, *, by_value_credential: Credential | None) -> Credential:
        """Return the trusted credential or raise ``ProtocolError``.

        ``by_value_credential`` is the parsed CCS when ID_CRED_x carries the
        credential by value ({14: CCS}); None for a kid reference. Raises
        ``ProtocolError(Alert.UNKNOWN_CREDENTIAL)`` for an unknown kid and
        ``ProtocolError(Alert.TOFU_DISABLED)`` for a by-value credential that
        policy does not allow.
        """
        ...


@runtime_checkable
class TofuPinning(Protocol):
    """Second half of TOFU (spec §4.4.1, REQ-KS-005).

    ``resolve`` lends a by-value credential for one handshake only; when that
    handshake has *completed* (peer signature verified, message_4 if required),
    the handshake calls ``confirm(peer_credential)`` so the credential is pinned
    and audited. Resolvers without TOFU need not implement it.
    """

    def confirm(self, credential: Credential, *, now: float | None = None) -> bool:
        """Pin ``credential`` if it is new; return True when it was pinned now."""
        ...


class TrustBasis(enum.Enum):
    """Why a credential is trusted (or why it is not)."""

    ALLOW_LIST = "allow_list"  # provisioned by the operator
    TOFU_PINNED = "tofu_pinned"  # pinned earlier by trust-on-first-use
    TOFU_NEW = "tofu_new"  # first use: usable now, pinned by confirm() after the handshake
    UNKNOWN_KID = "unknown_kid"
    TOFU_DISABLED = "tofu_disabled"
    PINNED_KEY_CONFLICT = "pinned_key_conflict"


@dataclass(frozen=True)
class TrustDecision:
    """The outcome of evaluating one ID_CRED_x, as a value (no side effects yet).

    ``credential`` is set exactly when ``accepted``; ``alert`` and ``detail``
    are set exactly when not.
    """

    basis: TrustBasis
    kid: bytes
    credential: Credential | None = None
    alert: Alert | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.credential is not None

    @property
    def by_tofu(self) -> bool:
        """True when the acceptance rests on trust-on-first-use (audited as a warning)."""
        return self.basis in (TrustBasis.TOFU_NEW, TrustBasis.TOFU_PINNED)


def kid_bytes(kid: KeyId) -> bytes:
    """Canonical byte form of a kid, used as the store key.

    An integer kid is the compact encoding of a one-byte bstr kid (RFC 9528
    §3.5.3.2: kid h'2b' travels as the CBOR int -12), so an integer maps to its
    own CBOR encoding and both spellings find the same credential.
    """
    if isinstance(kid, bool) or not isinstance(kid, (bytes, bytearray, int)):
        raise DecodeError(f"kid must be a byte string or integer, got {type(kid).__name__}")
    if isinstance(kid, int):
        return cbor.encode(kid)
    return bytes(kid)


def kid_hex(kid: KeyId) -> str:
    """Lower-case hex of :func:`kid_bytes` (how audit events and files name a peer)."""
    return kid_bytes(kid).hex()


def split_id_cred(
    id_cred: IdCred, by_value_credential: Credential | None
) -> tuple[bytes, Credential | None]:
    """Return (canonical kid, by-value credential or None) for any ID_CRED_x form.

    A {14: CCS} map without ``by_value_credential`` is parsed here, so callers
    that only have the header map still work. Raises DecodeError for shapes the
    profile does not allow.
    """
    if isinstance(id_cred, dict):
        if set(id_cred) == {HEADER_KID}:
            kid = id_cred[HEADER_KID]
            if isinstance(kid, bool) or not isinstance(kid, (bytes, int)):
                raise DecodeError("ID_CRED kid (4) must be a byte string or integer")
            return kid_bytes(kid), by_value_credential
        if set(id_cred) == {HEADER_KCCS}:
            credential = by_value_credential
            if credential is None:
                try:
                    encoded = cbor.encode(id_cred[HEADER_KCCS])  # type: ignore[arg-type,unused-ignore]
                except (TypeError, ValueError) as exc:
                    raise DecodeError(f"ID_CRED kccs (14) is not a CBOR value: {exc}") from exc
                credential = parse_ccs(encoded)
            return kid_bytes(credential.kid), credential
        labels = sorted(str(label) for label in id_cred)
        raise DecodeError(
            f"unsupported ID_CRED labels {labels}: expected {{4: kid}} or {{14: CCS}}"
        )
    if isinstance(id_cred, bool) or not isinstance(id_cred, (bytes, int)):
        raise DecodeError(
            f"ID_CRED must be a map, byte string or integer, got {type(id_cred).__name__}"
        )
    return kid_bytes(id_cred), by_value_credential
