"""Falcon-512 / Falcon-1024 verification on the reference firmware (PQClean falcon-padded-*).

Known answers: the round-3 reference C implementation's signatures shipped in the
`falcon-digital-signature` package (`falcon.scripts.sign_KAT`, message b"data1"), loaded from
the package; public keys are computed from (f, g, F) by the Python reference's encoder.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from pqiot.hil.agent_client import Command, Status
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto.falcon import FALCON512, FALCON1024

from .conftest import Agent

MESSAGE = b"data1"  # what the round-3 KAT signs (test_falcon.c)
ALGS = {512: -65601, 1024: -65602}
SCHEMES: dict[int, Any] = {512: FALCON512, 1024: FALCON1024}


@functools.cache
def kat(n: int) -> list[tuple[bytes, bytes]]:
    """(public key, padded signature) pairs of the round-3 KAT for Falcon-n."""
    sign_kat = pytest.importorskip("falcon.scripts.sign_KAT").sign_KAT
    scheme = SCHEMES[n]
    out = []
    for record in sign_kat[n]:
        private_key = scheme.encode_private_key(record["f"], record["g"], record["F"])
        out.append((scheme.public_key_from_private(private_key), bytes.fromhex(record["sig"])))
    return out


def _verify(agent: Agent, n: int, pk: bytes, msg: bytes, sig: bytes) -> CborValue:
    args: dict[str, CborValue] = {"alg": ALGS[n], "pk": pk, "msg": msg, "sig": sig, "ctx": b""}
    return agent.client.call(Command.SIG_VERIFY, args).ok()["valid"]


@pytest.mark.parametrize("n", [512, 1024])
def test_round3_kat_signatures_verify(agent: Agent, n: int) -> None:
    """REQ-TAP-009/011: SIG_VERIFY accepts the C reference's signatures, rejects others."""
    records = kat(n)
    assert len(records) == 12
    for pk, sig in records[: 1 if agent.is_qemu else 12]:
        assert len(pk) == {512: 897, 1024: 1793}[n] and len(sig) == {512: 666, 1024: 1280}[n]
        assert _verify(agent, n, pk, MESSAGE, sig) is True
        assert _verify(agent, n, pk, MESSAGE + b"!", sig) is False
        flipped = sig[:50] + bytes([sig[50] ^ 0x04]) + sig[51:]
        assert _verify(agent, n, pk, MESSAGE, flipped) is False
        assert _verify(agent, n, pk, MESSAGE, sig[:-1]) is False  # padded: exact length only


def test_falcon_arguments_outside_verify_are_refused(agent: Agent) -> None:
    """REQ-TAP-004/007: wrong pk length is 6, a context is 6, Falcon-1024 keygen is 3
    (only Falcon-512 signs on this firmware)."""
    pk, sig = kat(512)[0]
    call = agent.client.call
    base: dict[str, CborValue] = {"alg": -65601, "msg": MESSAGE, "sig": sig}
    assert call(Command.SIG_VERIFY, {**base, "pk": pk[:-1]}).status == Status.INVALID_INPUT
    assert call(Command.SIG_VERIFY, {**base, "pk": pk, "ctx": b"c"}).status == Status.INVALID_INPUT
    assert call(Command.SIG_KEYGEN, {"alg": -65602, "seed": bytes(32)}).status == Status.UNSUPPORTED
    agent.assert_alive()
