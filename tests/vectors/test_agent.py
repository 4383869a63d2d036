"""ReferenceAgent speaks the PrimitiveAgent protocol with TAP's error classes (spec §13.2.1)."""

from __future__ import annotations

import pytest

from pqiot.vectors.agent import InputRejected, PrimitiveAgent, ReferenceAgent, Unsupported


def test_reference_agent_is_a_primitive_agent() -> None:
    assert isinstance(ReferenceAgent(), PrimitiveAgent)


def test_invalid_inputs_are_rejected_not_crashes() -> None:
    """REQ-TAP-010: a wrong-length ek/dk/ct is status 6 (InputRejected)."""
    agent = ReferenceAgent()
    ek, dk = agent.mlkem_keygen(768, bytes(32), bytes(32))
    with pytest.raises(InputRejected):
        agent.mlkem_encaps(768, ek[:-1], bytes(32))
    with pytest.raises(InputRejected):
        agent.mlkem_decaps(768, dk, bytes(10))
    with pytest.raises(Unsupported):
        agent.mlkem_keygen(999, bytes(32), bytes(32))
    with pytest.raises(Unsupported):
        agent.sig_sign(-65601, b"", b"m", b"", bytes(32))


def test_failed_checks_are_results() -> None:
    """REQ-TAP-011: a bad tag is `None`, a bad signature `False`."""
    agent = ReferenceAgent()
    ct = agent.aead_seal(3, bytes(32), bytes(12), b"a", b"p")
    assert agent.aead_open(3, bytes(32), bytes(12), b"a", ct) == b"p"
    assert agent.aead_open(3, bytes(32), bytes(12), b"b", ct) is None
    pk, sk = agent.sig_keygen(-48, bytes(32))
    sig = agent.sig_sign(-48, sk, b"m", b"ctx", bytes(32))
    assert agent.sig_verify(-48, pk, b"m", sig, b"ctx")
    assert not agent.sig_verify(-48, pk, b"m", sig, b"other")


def test_hash_and_hkdf_modes() -> None:
    agent = ReferenceAgent()
    assert agent.hash("sha3-256", b"").hex().startswith("a7ffc6f8bf1ed766")
    assert len(agent.hash("shake128", b"", 7)) == 7
    prk = agent.hkdf(-16, "extract", salt=b"s", ikm=b"i", prk=b"", info=b"", length=0)
    okm = agent.hkdf(-16, "expand", salt=b"", ikm=b"", prk=prk, info=b"x", length=40)
    assert agent.hkdf(-16, "full", salt=b"s", ikm=b"i", prk=b"", info=b"x", length=40) == okm
    with pytest.raises(Unsupported):
        agent.hkdf(-45, "full", salt=b"", ikm=b"", prk=b"", info=b"", length=1)
