"""A minimal in-memory CredentialResolver: allow-list by reference, optional TOFU by value.

The durable KeyStore (D6) implements the same Protocol; this one serves
tests, vectors and the interop harness.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pqiot.reference import cbor
from pqiot.reference.credentials import Credential
from pqiot.reference.errors import Alert, ProtocolError
from pqiot.reference.trust import IdCred as TrustIdCred

__all__ = ["AllowListResolver"]


def _reference_key(id_cred: Mapping[Any, object]) -> bytes:
    """Canonical bytes of an ID_CRED map: the lookup key for references."""
    return cbor.encode(dict(id_cred))


class AllowListResolver:
    """Credentials known in advance, found by their ID_CRED_x reference ({4: kid} or x5t).

    A credential sent by value is accepted when it is byte-identical to a known
    one, or when ``tofu`` is on (the caller audits that as a warning, D6).
    """

    def __init__(self, credentials: Iterable[Credential] = (), *, tofu: bool = False) -> None:
        self.tofu = tofu
        self._known = list(credentials)
        self._by_reference = {_reference_key(c.id_cred_by_reference()): c for c in self._known}

    def resolve(
        self, id_cred: TrustIdCred, *, by_value_credential: Credential | None
    ) -> Credential:
        if by_value_credential is not None:
            if any(known.cred == by_value_credential.cred for known in self._known):
                return by_value_credential
            if not self.tofu:
                raise ProtocolError(
                    Alert.TOFU_DISABLED, "credential sent by value and TOFU is off", "D6"
                )
            return by_value_credential
        if not isinstance(id_cred, dict):
            id_cred = {4: id_cred}
        try:
            return self._by_reference[_reference_key(id_cred)]
        except (KeyError, ValueError, TypeError):
            raise ProtocolError(
                Alert.UNKNOWN_CREDENTIAL, "no credential for this ID_CRED_x"
            ) from None
