"""EDHOC → OSCORE mapping (RFC 9528 Appendix A.1, D3)."""

from __future__ import annotations

import pytest

from pqiot.reference.crypto import registry
from pqiot.reference.oscore import coap, protect
from pqiot.reference.oscore.context import derive_context, oscore_hkdf_alg
from pqiot.reference.oscore.from_edhoc import connection_id_to_oscore_id, contexts_from_edhoc


def fake_exporter(calls: list[tuple[int, bytes, int]]):  # type: ignore[no-untyped-def]
    def exporter(label: int, context: bytes, length: int) -> bytes:
        calls.append((label, context, length))
        return bytes([label + 1]) * length

    return exporter


def test_master_secret_salt_and_ids_follow_appendix_a1() -> None:
    """Master Secret = Exporter(0, h'', key_len), Master Salt = Exporter(1, h'', 8); Initiator Sender ID = C_R."""
    calls: list[tuple[int, bytes, int]] = []
    aead, hkdf = registry.aead(3), registry.hash_algorithm(-16)
    initiator, responder = contexts_from_edhoc(
        fake_exporter(calls), app_aead=aead, app_hkdf=hkdf, c_i=-24, c_r=b"\x2b\x01"
    )
    assert calls == [(0, b"", 32), (1, b"", 8)]
    assert (initiator.sender_id, initiator.recipient_id) == (b"\x2b\x01", b"\x37")
    assert (responder.sender_id, responder.recipient_id) == (b"\x37", b"\x2b\x01")
    expected = derive_context(
        master_secret=b"\x01" * 32,
        master_salt=b"\x02" * 8,
        sender_id=b"\x2b\x01",
        recipient_id=b"\x37",
        aead=aead,
        hkdf=hkdf,
    )
    assert initiator == expected
    assert (initiator.sender_key, initiator.recipient_key) == (
        responder.recipient_key,
        responder.sender_key,
    )


def test_the_two_contexts_talk_to_each_other() -> None:
    initiator, responder = contexts_from_edhoc(
        fake_exporter([]),
        app_aead=registry.aead(10),
        app_hkdf=registry.hash_algorithm(-16),
        c_i=5,
        c_r=-1,
    )
    request = coap.CoapMessage(coap.MessageType.CON, 0x01, 1, b"", ((11, b"x"),))
    protected, _ = protect.protect_request(initiator, request, 0)
    assert protect.unprotect_request(responder, protected)[0] == request


@pytest.mark.parametrize(
    ("cid", "oscore_id"),
    [(0, b"\x00"), (23, b"\x17"), (-1, b"\x20"), (-24, b"\x37"), (b"\xff\x00", b"\xff\x00")],
)
def test_connection_identifier_mapping(cid: int | bytes, oscore_id: bytes) -> None:
    assert connection_id_to_oscore_id(cid) == oscore_id


def test_connection_identifier_out_of_range() -> None:
    with pytest.raises(ValueError):
        connection_id_to_oscore_id(24)


def test_shake256_suites_use_hkdf_sha256() -> None:
    """REQ-KEYS-013 / D2: OSCORE HKDF is HKDF-SHA-256 for SHAKE256 suites; KMAC is refused."""
    assert (
        oscore_hkdf_alg(-45) == -16 and oscore_hkdf_alg(-43) == -43 and oscore_hkdf_alg(-16) == -16
    )
    with pytest.raises(ValueError, match="REQ-KEYS-013"):
        contexts_from_edhoc(
            fake_exporter([]),
            app_aead=registry.aead(3),
            app_hkdf=registry.hash_algorithm(-45),
            c_i=1,
            c_r=2,
        )
