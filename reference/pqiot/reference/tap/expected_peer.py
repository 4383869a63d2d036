"""SESSION_START ``peer``: accept only the expected peer credential (REQ-HS-011).

The handshake core has no "expected peer" setting, so the agent narrows the
credential resolver instead: the KeyStore still decides whether a credential
is trusted at all (``unknown_credential``, ``tofu_disabled``), and a trusted
credential with another kid is refused with ``authentication_failed``, as
REQ-HS-011 requires, before the peer's signature is even checked.
"""

from __future__ import annotations

from pqiot.reference.credentials import Credential, KeyId
from pqiot.reference.errors import Alert, ProtocolError
from pqiot.reference.keystore import CredentialSource, KeyStore
from pqiot.reference.trust import IdCred, kid_bytes

__all__ = ["ExpectedPeerResolver"]


class ExpectedPeerResolver:
    """A :class:`KeyStore` view that resolves only the kid the session expects."""

    def __init__(self, store: KeyStore, expected_kid: bytes) -> None:
        self._store = store
        self.expected_kid = bytes(expected_kid)

    def resolve(self, id_cred: IdCred, *, by_value_credential: Credential | None) -> Credential:
        credential = self._store.resolve(id_cred, by_value_credential=by_value_credential)
        if kid_bytes(credential.kid) != self.expected_kid:
            raise ProtocolError(
                Alert.AUTHENTICATION_FAILED,
                f"peer credential kid {kid_bytes(credential.kid).hex()} is not the expected "
                f"{self.expected_kid.hex()}",
                "REQ-HS-011",
            )
        return credential

    def source(self, kid: KeyId) -> CredentialSource | None:
        """How the store learned ``kid`` (the session audits TOFU vs allow-list with it)."""
        return self._store.source(kid)

    def confirm(self, credential: Credential, *, now: float | None = None) -> bool:
        """TOFU pinning goes to the store unchanged (the expected kid was already checked)."""
        return self._store.confirm(credential, now=now)
