"""StaticPskStore: the PSK named by a decrypted ID_CRED_PSK (draft-ietf-lake-edhoc-psk §3.1)."""

from __future__ import annotations

import hmac

import pytest

from pqiot.reference.edhoc.psk import PskEntry, StaticPskStore
from pqiot.reference.edhoc.wire import IdCred
from pqiot.reference.errors import Alert, ProtocolError


def _entry(kid: bytes) -> PskEntry:
    return PskEntry({4: kid}, psk=bytes(32) + kid, cred_i=b"i", cred_r=b"r")


def test_lookup_finds_each_entry_and_refuses_unknown_identifiers() -> None:
    store = StaticPskStore([_entry(b"\x01"), _entry(b"\x02\x03")])
    store.add(_entry(b"\x04"))
    for kid in (b"\x01", b"\x02\x03", b"\x04"):
        assert store.lookup({4: kid}).id_cred_psk == {4: kid}
    unknown_ids: list[IdCred] = [{4: b"\x02"}, {4: b"\x02\x03\x00"}, {34: [-16, b"x"]}]
    for unknown in unknown_ids:
        with pytest.raises(ProtocolError) as caught:
            store.lookup(unknown)
        assert caught.value.alert is Alert.UNKNOWN_CREDENTIAL


def test_lookup_compares_every_entry_with_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """REQ-GEN-004: PSK identifiers after decryption are compared in constant time.

    The lookup must not stop at the first match or use a hash table keyed by the
    identifier: hmac.compare_digest sees every stored identifier exactly once.
    """
    compared: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    store = StaticPskStore([_entry(bytes([n])) for n in range(1, 6)])
    assert store.lookup({4: b"\x01"}).id_cred_psk == {4: b"\x01"}
    assert len(compared) == 5
