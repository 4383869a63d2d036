"""Per-primitive measurements over TAP with fixed inputs, warm-up runs and repeats.

Inputs come from SHAKE128 streams with fixed labels, so every run and every target
sees the same bytes. ML-DSA signing is measured over the message set of
:mod:`pqiot.bench.messages` (one sample per message) because its cost is a
distribution, not a number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from pqiot.bench.messages import signing_key_seed, signing_messages
from pqiot.bench.samples import OpSamples, measured, proxy_value
from pqiot.hil.client import AgentClient
from pqiot.reference.tap.codes import Command

__all__ = ["AEADS", "HASHES", "KEM_SETS", "SIG_ALGS", "measure_primitives"]

KEM_SETS = {"ml-kem-512": 512, "ml-kem-768": 768, "ml-kem-1024": 1024}
SIG_ALGS = {"ml-dsa-44": -48, "ml-dsa-65": -49, "ml-dsa-87": -50}
#: TAP AEAD name -> (COSE alg, key length, nonce length)
AEADS = {
    "a256gcm": (3, 32, 12),
    "aes-ccm-16-64-128": (10, 16, 13),
    "chacha20-poly1305": (24, 32, 12),
}
HASHES = ("sha256", "sha3-256", "shake128")
HASH_INPUT = 4096
AEAD_INPUT = 1024


def _seed(label: str, size: int) -> bytes:
    return hashlib.shake_128(f"pqiot-bench/{label}".encode()).digest(size)


Op = tuple[str, int, Callable[[], object]]


def _repeat(
    client: AgentClient, ops: list[Op], runs: int, warmup: int, out: dict[str, OpSamples]
) -> None:
    for i in range(warmup + runs):
        for name, command, run in ops:
            m = measured(client, command, run)
            if i >= warmup:
                sample = out.setdefault(name, OpSamples(name, "primitive"))
                sample.add(proxy_value(m), m.unit, m.stack_bytes, m.cycles_overflow)


def _kem(client: AgentClient, name: str, runs: int, warmup: int, out: dict[str, OpSamples]) -> None:
    size = KEM_SETS[name]
    d, z, msg = _seed(name + "/d", 32), _seed(name + "/z", 32), _seed(name + "/m", 32)
    ek, dk = client.mlkem_keygen(size, d, z)
    c, _ = client.mlkem_encaps(size, ek, msg)
    _repeat(
        client,
        [
            (f"{name} keygen", Command.MLKEM_KEYGEN, lambda: client.mlkem_keygen(size, d, z)),
            (f"{name} encaps", Command.MLKEM_ENCAPS, lambda: client.mlkem_encaps(size, ek, msg)),
            (f"{name} decaps", Command.MLKEM_DECAPS, lambda: client.mlkem_decaps(size, dk, c)),
        ],
        runs,
        warmup,
        out,
    )


def _sig(
    client: AgentClient,
    name: str,
    runs: int,
    warmup: int,
    sign_messages: int,
    out: dict[str, OpSamples],
) -> None:
    alg = SIG_ALGS[name]
    xi = signing_key_seed()
    pk, sk = client.sig_keygen(alg, xi)
    messages = signing_messages(sign_messages)
    signature = client.sig_sign(alg, sk, messages[0])
    _repeat(
        client,
        [
            (f"{name} keygen", Command.SIG_KEYGEN, lambda: client.sig_keygen(alg, xi)),
            (
                f"{name} verify",
                Command.SIG_VERIFY,
                lambda: client.sig_verify(alg, pk, messages[0], signature),
            ),
        ],
        runs,
        warmup,
        out,
    )
    sign = out.setdefault(f"{name} sign", OpSamples(f"{name} sign", "primitive"))
    sign.notes.append(
        f"one sample per message of the {len(messages)}-message SHAKE128 set "
        "(deterministic signing): the spread is the rejection-loop distribution"
    )

    def signer(message: bytes) -> Callable[[], object]:
        return lambda: client.sig_sign(alg, sk, message)

    for i in range(warmup):
        measured(client, Command.SIG_SIGN, signer(messages[i % len(messages)]))
    for message in messages:
        m = measured(client, Command.SIG_SIGN, signer(message))
        sign.add(proxy_value(m), m.unit, m.stack_bytes, m.cycles_overflow)


def _aead(
    client: AgentClient, name: str, runs: int, warmup: int, out: dict[str, OpSamples]
) -> None:
    alg, key_len, nonce_len = AEADS[name]
    key, nonce = _seed(name + "/key", key_len), _seed(name + "/nonce", nonce_len)
    aad, pt = _seed(name + "/aad", 16), _seed(name + "/pt", AEAD_INPUT)
    ct = client.aead_seal(alg, key, nonce, aad, pt)
    _repeat(
        client,
        [
            (
                f"{name} seal 1KiB",
                Command.AEAD_SEAL,
                lambda: client.aead_seal(alg, key, nonce, aad, pt),
            ),
            (
                f"{name} open 1KiB",
                Command.AEAD_OPEN,
                lambda: client.aead_open(alg, key, nonce, aad, ct),
            ),
        ],
        runs,
        warmup,
        out,
    )


def _hash(
    client: AgentClient, name: str, runs: int, warmup: int, out: dict[str, OpSamples]
) -> None:
    data = _seed(name + "/data", HASH_INPUT)
    length = 32 if name.startswith("shake") else None
    _repeat(
        client,
        [(f"{name} 4KiB", Command.HASH, lambda: client.hash(name, data, length))],
        runs,
        warmup,
        out,
    )


def measure_primitives(
    client: AgentClient,
    names: list[str],
    *,
    runs: int,
    warmup: int,
    sign_messages: int,
) -> list[OpSamples]:
    """Measure each primitive in ``names`` (TAP primitive names, e.g. ``ml-kem-768``)."""
    out: dict[str, OpSamples] = {}
    for name in names:
        if name in KEM_SETS:
            _kem(client, name, runs, warmup, out)
        elif name in SIG_ALGS:
            _sig(client, name, runs, warmup, sign_messages, out)
        elif name in AEADS:
            _aead(client, name, runs, warmup, out)
        elif name in HASHES:
            _hash(client, name, runs, warmup, out)
    return list(out.values())
