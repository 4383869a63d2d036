"""AEAD_SEAL / AEAD_OPEN on the reference firmware (REQ-TAP-009, -011): the CAVP records the
reference's own tests use, loaded from ``cryptography_vectors``, and random inputs checked
against the Python reference. A256GCM (3), AES-CCM-16-64-128 (10), ChaCha20/Poly1305 (24),
AES-CCM-16-128-128 (30)."""

from __future__ import annotations

import functools
import os

import pytest

from pqiot.hil.agent_client import Command, Status
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto import registry
from pqiot.vectors.sources.cryptography_vectors import rsp_records
from pqiot.vectors.sources.nist_rsp import hex_bytes

from .conftest import Agent

QEMU_RECORDS = 4


def _sample(agent: Agent, records: list[dict[str, bytes]]) -> list[dict[str, bytes]]:
    if not agent.is_qemu:
        return records
    return records[:: max(1, len(records) // QEMU_RECORDS)][:QEMU_RECORDS]


@functools.cache
def gcm_records(kind: str) -> list[dict[str, bytes]]:
    path = f"ciphers/AES/GCM/{kind}256.rsp"
    out = []
    for r in rsp_records(path):
        if r["ivlen"] != "96" or r["taglen"] != "128":
            continue
        record = {f: hex_bytes(r, f, path) for f in ("key", "iv", "aad", "ct", "tag")}
        record["pt"] = b"" if "fail" in r else hex_bytes(r, "pt", path)
        record["fail"] = b"1" if "fail" in r else b""
        out.append(record)
    return out


@functools.cache
def ccm_records(path: str, tlen: str) -> list[dict[str, bytes]]:
    out = []
    for r in rsp_records(path):
        if r["nlen"] != "13" or r["tlen"] != tlen:
            continue
        out.append(
            {
                "key": hex_bytes(r, "key", path),
                "nonce": hex_bytes(r, "nonce", path),
                "adata": hex_bytes(r, "adata", path)[: int(r["alen"])],
                # "Fail" records of DVPT carry no payload
                "payload": hex_bytes(r, "payload", path)[: int(r["plen"])]
                if "payload" in r
                else b"",
                "ct": hex_bytes(r, "ct", path),
                "fail": b"1" if r.get("result") == "Fail" else b"",
            }
        )
    return out


def test_a256gcm_encrypt_matches_cavp(agent: Agent) -> None:
    records = gcm_records("gcmEncryptExtIV")
    assert len(records) > 100
    for r in _sample(agent, records):
        args: dict[str, CborValue] = {
            "alg": 3,
            "key": r["key"],
            "nonce": r["iv"],
            "aad": r["aad"],
            "pt": r["pt"],
        }
        assert agent.client.call(Command.AEAD_SEAL, args).ok() == {"ct": r["ct"] + r["tag"]}


def test_a256gcm_decrypt_matches_cavp_including_failures(agent: Agent) -> None:
    """REQ-TAP-011: a failed tag check is status 0, valid = false, no pt."""
    records = gcm_records("gcmDecrypt")
    assert sum(1 for r in records if r["fail"]) > 10
    for r in _sample(agent, records):
        args: dict[str, CborValue] = {
            "alg": 3,
            "key": r["key"],
            "nonce": r["iv"],
            "aad": r["aad"],
            "ct": r["ct"] + r["tag"],
        }
        expected = {"valid": False} if r["fail"] else {"valid": True, "pt": r["pt"]}
        assert agent.client.call(Command.AEAD_OPEN, args).ok() == expected


@pytest.mark.parametrize(("alg", "tlen"), [(10, "8"), (30, "16")])
def test_aes_ccm_encrypt_matches_cavp_vtt(agent: Agent, alg: int, tlen: str) -> None:
    records = ccm_records("ciphers/AES/CCM/VTT128.rsp", tlen)
    assert records
    for r in _sample(agent, records):
        seal: dict[str, CborValue] = {
            "alg": alg,
            "key": r["key"],
            "nonce": r["nonce"],
            "aad": r["adata"],
            "pt": r["payload"],
        }
        assert agent.client.call(Command.AEAD_SEAL, seal).ok() == {"ct": r["ct"]}
        opened = agent.client.call(Command.AEAD_OPEN, {**seal, "ct": r["ct"]}).ok()
        assert opened == {"valid": True, "pt": r["payload"]}


def test_aes_ccm_decrypt_verification_vectors(agent: Agent) -> None:
    records = ccm_records("ciphers/AES/CCM/DVPT128.rsp", "16")
    assert any(r["fail"] for r in records) and any(not r["fail"] for r in records)
    for r in _sample(agent, records):
        args: dict[str, CborValue] = {
            "alg": 30,
            "key": r["key"],
            "nonce": r["nonce"],
            "aad": r["adata"],
            "ct": r["ct"],
        }
        expected = {"valid": False} if r["fail"] else {"valid": True, "pt": r["payload"]}
        assert agent.client.call(Command.AEAD_OPEN, args).ok() == expected


def test_chacha20_poly1305_openssl_vectors(agent: Agent) -> None:
    path = "ciphers/ChaCha20Poly1305/openssl.txt"
    records = list(rsp_records(path))
    assert len(records) == 5
    for r in records:
        key, iv, aad = (
            hex_bytes(r, "key", path),
            hex_bytes(r, "iv", path),
            hex_bytes(r, "aad", path),
        )
        sealed = hex_bytes(r, "ciphertext", path) + hex_bytes(r, "tag", path)
        args: dict[str, CborValue] = {"alg": 24, "key": key, "nonce": iv, "aad": aad}
        opened = agent.client.call(Command.AEAD_OPEN, {**args, "ct": sealed}).ok()
        if r.get("result") == "CIPHERFINAL_ERROR":
            assert opened == {"valid": False}
            continue
        plaintext = hex_bytes(r, "plaintext", path)
        assert opened == {"valid": True, "pt": plaintext}
        assert agent.client.call(Command.AEAD_SEAL, {**args, "pt": plaintext}).ok() == {
            "ct": sealed
        }


@pytest.mark.parametrize("alg", [3, 10, 24, 30])
def test_random_inputs_match_the_reference(agent: Agent, alg: int) -> None:
    aead = registry.aead(alg)
    for pt_len, aad_len in ((0, 0), (1, 300), (4096, 17)):
        key, nonce = os.urandom(aead.key_size), os.urandom(aead.nonce_size)
        pt, aad = os.urandom(pt_len), os.urandom(aad_len)
        sealed = aead.seal(key, nonce, pt, aad)
        args: dict[str, CborValue] = {"alg": alg, "key": key, "nonce": nonce, "aad": aad}
        assert agent.client.call(Command.AEAD_SEAL, {**args, "pt": pt}).ok() == {"ct": sealed}
        tampered = sealed[:-1] + bytes([sealed[-1] ^ 0x80])
        assert agent.client.call(Command.AEAD_OPEN, {**args, "ct": tampered}).ok() == {
            "valid": False
        }


@pytest.mark.parametrize(
    ("args", "status"),
    [
        ({"alg": 3, "key": bytes(16), "nonce": bytes(12), "pt": b""}, Status.INVALID_INPUT),
        ({"alg": 10, "key": bytes(16), "nonce": bytes(12), "pt": b""}, Status.INVALID_INPUT),
        ({"alg": 24, "key": bytes(32), "nonce": bytes(8), "pt": b""}, Status.INVALID_INPUT),
        ({"alg": 1, "key": bytes(16), "nonce": bytes(12), "pt": b""}, Status.UNSUPPORTED),
        ({"alg": 3, "key": bytes(32), "nonce": bytes(12), "pt": bytes(4113)}, Status.TOO_LARGE),
        ({"alg": 3, "key": bytes(32), "nonce": bytes(12)}, Status.MALFORMED),
    ],
    ids=["gcm-short-key", "ccm-short-nonce", "chacha-short-nonce", "a128gcm", "pt-4113", "no-pt"],
)
def test_bad_aead_requests(agent: Agent, args: dict[str, CborValue], status: int) -> None:
    assert agent.client.call(Command.AEAD_SEAL, args).status == status
    agent.assert_alive()


def test_ciphertext_shorter_than_the_tag_is_not_valid(agent: Agent) -> None:
    args: dict[str, CborValue] = {"alg": 10, "key": bytes(16), "nonce": bytes(13), "ct": bytes(7)}
    assert agent.client.call(Command.AEAD_OPEN, args).ok() == {"valid": False}
