"""EDHOC_KDF and the schedule helpers, checked against RFC 9529's printed info strings and values."""

from __future__ import annotations

from pqiot.reference import cbor
from pqiot.reference.crypto import registry
from pqiot.reference.edhoc.key_schedule import KeySchedule, SessionSecrets

from .conftest import hx, load_trace

SHA256 = registry.hash_algorithm(-16)
SHAKE256 = registry.hash_algorithm(-45)

TRACE_1 = load_trace("rfc9529_trace1.json")["intermediates"]
TRACE_2 = load_trace("rfc9529_trace2.json")["intermediates"]


def test_info_is_the_cbor_sequence_label_context_length() -> None:
    """RFC 9529 §2: info for KEYSTREAM_2 = (0, TH_2, 82) = 00 58 20 <TH_2> 18 52; info for PRK_exporter = 0a 40 18 20."""
    th_2 = hx(TRACE_1["TH_2"])
    assert cbor.encode_sequence(0, th_2, 82) == hx("0058 20") + th_2 + hx("1852")
    assert cbor.encode_sequence(10, b"", 32) == hx("0a401820")


def test_named_derivations_reproduce_trace_2() -> None:
    ks = KeySchedule(SHA256)
    t = {k: hx(v) for k, v in TRACE_2.items()}
    assert ks.prk_2e(t["TH_2"], t["G_XY"]) == t["PRK_2e"]
    assert ks.salt_3e2m(t["PRK_2e"], t["TH_2"]) == t["SALT_3e2m"]
    assert ks.prk_3e2m(t["SALT_3e2m"], t["G_RX"]) == t["PRK_3e2m"]
    assert ks.keystream_2(t["PRK_2e"], t["TH_2"], 11) == t["KEYSTREAM_2"]
    assert ks.mac_2(t["PRK_3e2m"], t["context_2"], 8) == t["MAC_2"]
    assert ks.salt_4e3m(t["PRK_3e2m"], t["TH_3"]) == t["SALT_4e3m"]
    assert ks.prk_4e3m(t["SALT_4e3m"], t["G_IY"]) == t["PRK_4e3m"]
    assert (
        ks.k_3(t["PRK_3e2m"], t["TH_3"], 16) == t["K_3"]
        and ks.iv_3(t["PRK_3e2m"], t["TH_3"], 13) == t["IV_3"]
    )
    assert (
        ks.k_4(t["PRK_4e3m"], t["TH_4"], 16) == t["K_4"]
        and ks.iv_4(t["PRK_4e3m"], t["TH_4"], 13) == t["IV_4"]
    )
    secrets = SessionSecrets(ks, ks.prk_out(t["PRK_4e3m"], t["TH_4"]))
    assert secrets.prk_out == t["PRK_out"] and secrets.prk_exporter == t["PRK_exporter"]
    assert secrets.exporter(0, b"", 16) == t["OSCORE_master_secret"]


def test_shake256_schedule_uses_kmac_and_64_byte_hashes() -> None:
    """RFC 9528 §4.1.1: a SHAKE256 suite hashes to 64 bytes and derives with KMAC256."""
    ks = KeySchedule(SHAKE256)
    prk = ks.extract(b"salt", b"ikm")
    assert ks.hash_length == 64 and len(prk) == 64 and len(ks.prk_out(prk, b"t" * 64)) == 64
    assert ks.kdf(prk, 0, b"", 10) != KeySchedule(SHA256).kdf(prk[:32], 0, b"", 10)
    assert ks.kdf(prk, 0, b"", 10) == ks.kdf(prk, 0, b"", 10)
