"""Known-answer tests: RFC 9529 traces 1 and 2, every message and intermediate value, both roles.

The trace's ephemeral keys are injected through the rng; the trace's static
keys live in a SoftwareSecurityProvider. Our Initiator talks to our Responder
and both record their intermediates, which must equal the RFC byte for byte.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from pqiot.reference import cbor
from pqiot.reference.credentials import parse_ccs, x509_credential
from pqiot.reference.crypto.ecc import X25519
from pqiot.reference.edhoc import (
    AllowListResolver,
    HandshakeCompleted,
    HandshakeConfig,
    Initiator,
    Responder,
    State,
    SuitesRejected,
)
from pqiot.reference.edhoc.events import PeerCredentialAccepted
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.suites import CipherSuite

from .conftest import FixedRng, hx, load_trace, run

TRACE_1 = load_trace("rfc9529_trace1.json")
TRACE_2 = load_trace("rfc9529_trace2.json")

#: RFC 9528 §3.6 suite 6 (A128GCM, SHA-256, 16, X25519, ES256, A128GCM, SHA-256). Not in D2: trace 2's
#: initiator merely *prefers* it, so it appears in SUITES_I; it is never selected.
SUITE_6 = CipherSuite(6, "EDHOC-6 (RFC 9528)", 1, -16, 16, 4, -7, 1, -16, "check-only")

# Values both roles compute (the other names are computed by one role only; see below).
SHARED = [
    "H_message_1",
    "TH_2",
    "G_XY",
    "PRK_2e",
    "PRK_3e2m",
    "TH_3",
    "PRK_4e3m",
    "K_3",
    "IV_3",
    "A_3",
    "CIPHERTEXT_2",
    "KEYSTREAM_2",
    "PLAINTEXT_2",
    "PLAINTEXT_3",
    "CIPHERTEXT_3",
    "TH_4",
    "K_4",
    "IV_4",
    "A_4",
    "CIPHERTEXT_4",
    "PLAINTEXT_4",
    "PRK_out",
    "PRK_exporter",
    "OSCORE_master_secret",
    "OSCORE_master_salt",
    "MAC_2",
    "MAC_3",
    "Signature_or_MAC_2",
    "Signature_or_MAC_3",
    "context_2",
    "context_3",
]
STATIC_DH = ["SALT_3e2m", "G_RX", "SALT_4e3m", "G_IY"]


def _check_trace(
    recorded: dict[str, bytes], trace: dict[str, Any], names: list[str], who: str
) -> None:
    expected = trace["intermediates"]
    mismatches = {
        name: (recorded.get(name, b"<missing>").hex(), hx(expected[name]).hex())
        for name in names
        if recorded.get(name) != hx(expected[name])
    }
    assert not mismatches, f"{who} differs from RFC 9529: {mismatches}"


def _check_messages(recorded: dict[str, bytes], trace: dict[str, Any], who: str) -> None:
    for name in ("message_1", "message_2", "message_3", "message_4"):
        assert recorded.get(name) == hx(trace["messages"][name]), f"{who} {name}"


def test_trace_data_is_self_consistent() -> None:
    """Guard the transcription: lengths as printed in RFC 9529 and recomputable hashes/XORs agree."""
    for trace in (TRACE_1, TRACE_2):
        every = {**trace["inputs"], **trace["messages"], **trace["intermediates"]}
        for name, length in trace["lengths"].items():
            assert len(hx(every[name])) == length, name
        i = trace["intermediates"]
        assert hashlib.sha256(hx(trace["messages"]["message_1"])).digest() == hx(i["H_message_1"])
        ks, pt = hx(i["KEYSTREAM_2"]), hx(i["PLAINTEXT_2"])
        assert bytes(a ^ b for a, b in zip(ks, pt, strict=True)) == hx(i["CIPHERTEXT_2"])
        assert hx(trace["messages"]["message_2"]) == cbor.encode(
            hx(trace["inputs"]["g_y"]) + hx(i["CIPHERTEXT_2"])
        )
        assert hx(trace["messages"]["message_3"]) == cbor.encode(hx(i["CIPHERTEXT_3"]))
    # x5t values in trace 1 are SHA-256/64 of the transcribed certificates.
    assert (
        hashlib.sha256(hx(TRACE_1["inputs"]["cred_r"])).digest()[:8]
        == hx(TRACE_1["inputs"]["id_cred_r"])[-8:]
    )
    assert (
        hashlib.sha256(hx(TRACE_1["inputs"]["cred_i"])).digest()[:8]
        == hx(TRACE_1["inputs"]["id_cred_i"])[-8:]
    )


def _trace_1_configs(
    trace_i: dict[str, bytes], trace_r: dict[str, bytes]
) -> tuple[HandshakeConfig, HandshakeConfig]:
    inp = TRACE_1["inputs"]
    cred_i, cred_r = x509_credential(hx(inp["cred_i"])), x509_credential(hx(inp["cred_r"]))
    assert cred_i.public_key == hx(inp["pk_i"]) and cred_r.public_key == hx(inp["pk_r"])
    provider_i, provider_r = SoftwareSecurityProvider(rng=None), SoftwareSecurityProvider(rng=None)
    key_i = provider_i.add_signature_key("I", -8, hx(inp["sk_i"]), hx(inp["pk_i"]))
    key_r = provider_r.add_signature_key("R", -8, hx(inp["sk_r"]), hx(inp["pk_r"]))
    initiator = HandshakeConfig(
        role="initiator",
        method=0,
        suites=[0],
        credential=cred_i,
        key=key_i,
        provider=provider_i,
        resolver=AllowListResolver([cred_r]),
        connection_id=hx(inp["c_i"]),
        rng=FixedRng(hx(inp["x"])),
        message_4=True,
        trace=trace_i,
    )
    responder = HandshakeConfig(
        role="responder",
        method=0,
        suites=[0],
        credential=cred_r,
        key=key_r,
        provider=provider_r,
        resolver=AllowListResolver([cred_i]),
        connection_id=hx(inp["c_r"]),
        rng=FixedRng(hx(inp["y"])),
        message_4=True,
        trace=trace_r,
    )
    return initiator, responder


def test_trace_1_signature_method_x5t_both_roles() -> None:
    """RFC 9529 §2: method 0, suite 0, X.509 credentials by x5t — every value byte for byte."""
    trace_i: dict[str, bytes] = {}
    trace_r: dict[str, bytes] = {}
    config_i, config_r = _trace_1_configs(trace_i, trace_r)
    initiator, responder = Initiator(config_i), Responder(config_r)
    transcript = run(initiator, responder)
    assert [d for _, d in transcript.wire] == [
        hx(TRACE_1["messages"][f"message_{n}"]) for n in (1, 2, 3, 4)
    ]
    for recorded, who in ((trace_i, "initiator"), (trace_r, "responder")):
        _check_messages(recorded, TRACE_1, who)
        _check_trace(recorded, TRACE_1, SHARED, who)
    assert initiator.state is State.COMPLETED and responder.state is State.COMPLETED
    done_i = next(e for e in transcript.initiator_events if isinstance(e, HandshakeCompleted))
    done_r = next(e for e in transcript.responder_events if isinstance(e, HandshakeCompleted))
    inter = TRACE_1["intermediates"]
    for done in (done_i, done_r):
        assert (done.c_i, done.c_r) == (hx("2d"), hx("18"))
        updated = done.key_update(hx(TRACE_1["inputs"]["key_update_context"]))
        assert updated.prk_out == hx(inter["PRK_out_after_key_update"])
        assert updated.prk_exporter == hx(inter["PRK_exporter_after_key_update"])
        assert updated.exporter(0, b"", 16) == hx(inter["OSCORE_master_secret_after_key_update"])
        assert updated.exporter(1, b"", 8) == hx(inter["OSCORE_master_salt_after_key_update"])


def _trace_2_configs(
    trace_i: dict[str, bytes], trace_r: dict[str, bytes]
) -> tuple[HandshakeConfig, HandshakeConfig]:
    inp = TRACE_2["inputs"]
    first = TRACE_2["first_attempt"]
    cred_i, cred_r = parse_ccs(hx(inp["cred_i"])), parse_ccs(hx(inp["cred_r"]))
    assert (cred_i.public_key, cred_r.public_key) == (hx(inp["g_i"]), hx(inp["g_r"]))
    provider_i, provider_r = SoftwareSecurityProvider(rng=None), SoftwareSecurityProvider(rng=None)
    key_i = provider_i.add_dh_key("I", 1, hx(inp["i"]), hx(inp["g_i"]))
    key_r = provider_r.add_dh_key("R", 1, hx(inp["r"]), hx(inp["g_r"]))
    initiator = HandshakeConfig(
        role="initiator",
        method=3,
        suites=[SUITE_6, 2],
        credential=cred_i,
        key=key_i,
        provider=provider_i,
        resolver=AllowListResolver([cred_r]),
        connection_id=hx(first["c_i"]),
        retry_connection_id=hx(inp["c_i"]),
        rng=FixedRng(hx(first["x"]), hx(inp["x"])),
        message_4=True,
        trace=trace_i,
    )
    responder = HandshakeConfig(
        role="responder",
        method=3,
        suites=[2],
        credential=cred_r,
        key=key_r,
        provider=provider_r,
        resolver=AllowListResolver([cred_i]),
        connection_id=hx(inp["c_r"]),
        rng=FixedRng(hx(inp["y"])),
        message_4=True,
        trace=trace_r,
    )
    return initiator, responder


def test_trace_2_static_dh_with_suite_negotiation_both_roles() -> None:
    """RFC 9529 §3: method 3, suite 2, kid CCS credentials, after an ERR_CODE 2 round (REQ: RFC 9528 §6.3)."""
    trace_i: dict[str, bytes] = {}
    trace_r: dict[str, bytes] = {}
    config_i, config_r = _trace_2_configs(trace_i, trace_r)
    initiator = Initiator(config_i)
    transcript = run(initiator, lambda: Responder(config_r))
    first = TRACE_2["first_attempt"]
    # RFC 9529 quirk: the first message_1 offers suite 6 (X25519) but carries the P-256 key of X.
    # Ours carries X25519(X), as suite 6 requires; every other byte is the trace's.
    x25519_g_x = X25519.public_key(hx(first["x"]))
    first_message_1 = hx(first["message_1"]).replace(hx(first["g_x"]), x25519_g_x)
    expected_wire = [first_message_1, hx(first["error"])] + [
        hx(TRACE_2["messages"][f"message_{n}"]) for n in (1, 2, 3, 4)
    ]
    assert [d for _, d in transcript.wire] == expected_wire
    assert SuitesRejected((2,)) in transcript.initiator_events
    assert transcript.responders[0].state is State.FAILED  # the responder that sent the error
    for recorded, who in ((trace_i, "initiator"), (trace_r, "responder")):
        _check_messages(recorded, TRACE_2, who)
        _check_trace(recorded, TRACE_2, SHARED + STATIC_DH, who)
    done = [
        e
        for e in transcript.initiator_events + transcript.responder_events
        if isinstance(e, HandshakeCompleted)
    ]
    assert len(done) == 2
    inter = TRACE_2["intermediates"]
    for event in done:
        assert (event.suite_id, event.method, event.c_i, event.c_r) == (2, 3, hx("37"), hx("27"))
        updated = event.key_update(hx(TRACE_2["inputs"]["key_update_context"]))
        assert updated.prk_out == hx(inter["PRK_out_after_key_update"])
        assert updated.exporter(0, b"", 16) == hx(inter["OSCORE_master_secret_after_key_update"])
        assert updated.exporter(1, b"", 8) == hx(inter["OSCORE_master_salt_after_key_update"])
    accepted = [e for e in transcript.initiator_events if isinstance(e, PeerCredentialAccepted)]
    assert accepted == [
        PeerCredentialAccepted(parse_ccs(hx(TRACE_2["inputs"]["cred_r"])), by_value=False)
    ]


@pytest.mark.parametrize("trace", [TRACE_1, TRACE_2], ids=["trace1", "trace2"])
def test_responder_alone_answers_trace_message_1_with_trace_message_2(
    trace: dict[str, Any],
) -> None:
    """Feeding only the RFC's message_1 (no Initiator of ours involved) yields the RFC's message_2."""
    trace_r: dict[str, bytes] = {}
    if trace is TRACE_1:
        _, config_r = _trace_1_configs({}, trace_r)
    else:
        _, config_r = _trace_2_configs({}, trace_r)
    responder = Responder(config_r)
    responder.receive(hx(trace["messages"]["message_1"]), now=0.0)
    assert responder.data_to_send() == [hx(trace["messages"]["message_2"])]
    responder.receive(hx(trace["messages"]["message_3"]), now=0.0)
    assert responder.data_to_send() == [hx(trace["messages"]["message_4"])]
    assert responder.state is State.COMPLETED


def test_trace_2_first_message_1_is_rejected_with_suites_r() -> None:
    """RFC 9529 §3 "error": the exact first message_1 (suite 6) gets ERR_CODE 2 with SUITES_R = 2."""
    _, config_r = _trace_2_configs({}, {})
    responder = Responder(config_r)
    responder.receive(hx(TRACE_2["first_attempt"]["message_1"]), now=0.0)
    assert responder.data_to_send() == [hx(TRACE_2["first_attempt"]["error"])]
    assert responder.state is State.FAILED
