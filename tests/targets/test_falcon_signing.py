"""Falcon-512 (padded) key generation and signing on the reference firmware (PQClean falcon-padded-512).

Round-3 Falcon has no seeded interface, so the firmware defines its own (spec §13.3 notes, the
firmware's ``src/prims.h``): PQClean's ``randombytes`` returns SHAKE256(label || seed)[0:48] for
key generation and SHAKE256(label || rnd)[0:88] for signing (40-byte salt, then the 48-byte seed
of the sampler's SHAKE256 stream). That makes a signature a known answer: the Python reference
signer, fed the same salt and the same sampler stream, produces it byte for byte. The Python
key generation is slow and not bit-compatible with C, so keys come from the firmware (checked
against their own secret key) or from the committed identity ``tests/reference/data/falcon512-test``.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import pytest

from pqiot.hil.agent_client import Command, Status
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto.falcon import FALCON512
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.identity import Identity, load_identity

from .conftest import Agent

ALG = -65601
DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
SIGN_LABEL = b"pqiot falcon-512 sign"  # FALCON_SIGN_LABEL in targets/firmware/src/prims.h
SALT = 40
SAMPLER_SEED = 48
CHACHA_SEED = 56  # what each sampling attempt draws from the sampler's SHAKE256 stream


@functools.cache
def identity() -> Identity:
    return load_identity(DATA, "falcon512-test")


def firmware_randomness(rnd: bytes) -> tuple[bytes, bytes]:
    """(salt, sampler seed) the firmware derives from a SIG_SIGN ``rnd``."""
    coins = hashlib.shake_256(SIGN_LABEL + rnd).digest(SALT + SAMPLER_SEED)
    return coins[:SALT], coins[SALT:]


class FirmwareRandomness:
    """The bytes the reference signer draws, in the order PQClean's do_sign produces them: the
    salt first, then 56 bytes per sampling attempt read from SHAKE256(sampler seed) (PQClean's
    sign_dyn seeds its ChaCha20 sampler from that stream, the reference from these bytes)."""

    def __init__(self, rnd: bytes) -> None:
        self._salt: bytes | None
        self._salt, seed = firmware_randomness(rnd)
        self._stream = hashlib.shake_256(seed)
        self._drawn = 0

    def __call__(self, n: int) -> bytes:
        if self._salt is not None:
            assert n == SALT, f"the salt is drawn first, not {n} bytes"
            salt, self._salt = self._salt, None
            return salt
        assert n == CHACHA_SEED, f"unexpected draw of {n} bytes"
        out = self._stream.digest(self._drawn + n)[self._drawn :]
        self._drawn += n
        return out


@functools.cache
def expected_signature(private_key: bytes, message: bytes, rnd: bytes) -> bytes:
    """The reference signer's padded signature with the firmware's randomness for ``rnd``."""
    return FALCON512.sign(private_key, message, FirmwareRandomness(rnd))


def sign(agent: Agent, sk: bytes, msg: bytes, rnd: bytes) -> bytes:
    args: dict[str, CborValue] = {"alg": ALG, "sk": sk, "msg": msg, "rnd": rnd}
    sig = agent.client.call(Command.SIG_SIGN, args, timeout=60).ok()["sig"]
    assert isinstance(sig, bytes)
    return sig


def firmware_verifies(agent: Agent, pk: bytes, msg: bytes, sig: bytes) -> bool:
    args: dict[str, CborValue] = {"alg": ALG, "pk": pk, "msg": msg, "sig": sig}
    valid = agent.client.call(Command.SIG_VERIFY, args).ok()["valid"]
    assert isinstance(valid, bool)
    return valid


def tampered(sig: bytes) -> list[bytes]:
    """A flipped salt bit, a flipped bit in the compressed s2, a non-zero padding byte."""
    return [
        sig[:5] + bytes([sig[5] ^ 0x01]) + sig[6:],
        sig[:100] + bytes([sig[100] ^ 0x10]) + sig[101:],
        sig[:-1] + b"\x01",
    ]


def test_identify_declares_falcon_512(agent: Agent) -> None:
    """REQ-TAP-004: the conformance statement lists falcon-512, which now signs and verifies."""
    primitives = agent.identity["primitives"]
    assert isinstance(primitives, list) and "falcon-512" in primitives


def test_signature_is_the_known_answer_and_verifies_everywhere(agent: Agent) -> None:
    """SIG_SIGN with the committed identity's key equals the reference signer's output for the
    documented randomness, and both the reference and the firmware's SIG_VERIFY accept it."""
    ident = identity()
    cases = [(b"pqiot falcon", bytes(range(32)))]
    if not agent.is_qemu:
        cases += [(b"", bytes(32)), (bytes(range(256)) * 4, b"\xff" * 32)]
    for msg, rnd in cases:
        sig = sign(agent, ident.private_key, msg, rnd)
        assert len(sig) == 666 and sig[0] == 0x39
        assert sig == expected_signature(ident.private_key, msg, rnd)
        assert FALCON512.verify(ident.public_key, msg, sig)
        assert firmware_verifies(agent, ident.public_key, msg, sig)


def test_tampered_signatures_and_messages_fail(agent: Agent) -> None:
    """A firmware signature with one bit changed, or on another message, verifies nowhere."""
    ident = identity()
    msg = b"pqiot falcon"
    sig = sign(agent, ident.private_key, msg, bytes(range(32)))
    for bad in tampered(sig):
        assert not FALCON512.verify(ident.public_key, msg, bad)
        assert not firmware_verifies(agent, ident.public_key, msg, bad)
    assert not FALCON512.verify(ident.public_key, msg + b"!", sig)
    assert not firmware_verifies(agent, ident.public_key, msg + b"!", sig)


def test_reference_signatures_verify_on_the_firmware(agent: Agent) -> None:
    """REQ-TAP-009: SIG_VERIFY accepts the reference's Falcon-512 signatures, rejects tampering."""
    ident = identity()
    msg = b"signed by the reference"
    sig = FALCON512.sign(ident.private_key, msg, ShakeRng(b"falcon signing test"))
    assert firmware_verifies(agent, ident.public_key, msg, sig)
    for bad in tampered(sig)[: 1 if agent.is_qemu else 3]:
        assert not firmware_verifies(agent, ident.public_key, msg, bad)


def check_keygen(agent: Agent, repeat: bool) -> None:
    """The public key belongs to the secret key (recomputed by the reference), the same seed
    gives the same pair, and the pair's signatures are the known answer and verify everywhere."""
    call = agent.client.call
    keys = call(Command.SIG_KEYGEN, {"alg": ALG, "seed": bytes(range(32))}, timeout=300).ok()
    pk, sk = keys["pk"], keys["sk"]
    assert isinstance(pk, bytes) and isinstance(sk, bytes)
    assert (len(pk), len(sk), pk[0], sk[0]) == (897, 1281, 0x09, 0x59)
    assert FALCON512.public_key_from_private(sk) == pk
    if repeat:
        assert call(Command.SIG_KEYGEN, {"alg": ALG, "seed": bytes(range(32))}).ok() == keys
        other = call(Command.SIG_KEYGEN, {"alg": ALG, "seed": bytes(32)}).ok()
        assert other["pk"] != pk
    msg = b"firmware key"
    sig = sign(agent, sk, msg, bytes(32))
    assert sig == expected_signature(sk, msg, bytes(32))
    assert FALCON512.verify(pk, msg, sig) and firmware_verifies(agent, pk, msg, sig)
    someone_else = identity().public_key
    assert not FALCON512.verify(someone_else, msg, sig)
    assert not firmware_verifies(agent, someone_else, msg, sig)


def test_firmware_keygen_is_deterministic_and_consistent(agent: Agent) -> None:
    """SIG_KEYGEN for Falcon-512 with the firmware's seeding (host builds; qemu-m4: slow test)."""
    if agent.is_qemu:
        pytest.skip("Falcon-512 keygen is ~1.5G instructions on qemu-m4: test_keygen_on_qemu_m4")
    check_keygen(agent, repeat=True)


@pytest.mark.slow
def test_keygen_on_qemu_m4(agent: Agent) -> None:
    """SIG_KEYGEN on the M4 build (Falcon at -O0 there: GCC 12 miscompiles it at -O1 and above)."""
    if not agent.is_qemu:
        pytest.skip("the host builds run test_firmware_keygen_is_deterministic_and_consistent")
    check_keygen(agent, repeat=False)


def test_falcon_signing_arguments_are_checked(agent: Agent) -> None:
    """REQ-TAP-004/007: a context (Falcon has none) and an undecodable key are status 6,
    Falcon-1024 signing is status 3; the agent stays alive."""
    ident = identity()
    call = agent.client.call
    base: dict[str, CborValue] = {"alg": ALG, "msg": b"m", "rnd": bytes(32)}
    with_ctx = {**base, "sk": ident.private_key, "ctx": b"c"}
    assert call(Command.SIG_SIGN, with_ctx).status == Status.INVALID_INPUT
    bad_header = bytes([0x5A]) + ident.private_key[1:]
    assert call(Command.SIG_SIGN, {**base, "sk": bad_header}).status == Status.INVALID_INPUT
    assert (
        call(Command.SIG_SIGN, {**base, "sk": ident.private_key[:-1]}).status
        == Status.INVALID_INPUT
    )
    keygen_1024: dict[str, CborValue] = {"alg": -65602, "seed": bytes(32)}
    assert call(Command.SIG_KEYGEN, keygen_1024).status == Status.UNSUPPORTED
    agent.assert_alive()
