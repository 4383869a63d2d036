"""HKDF (TAP command 56, REQ-TAP-009) on the reference firmware.

SHA-256 is checked against RFC 5869 Appendix A and pyca's generated 1200-byte vector, both
loaded from the `cryptography_vectors` package. RFC 5869 has no SHA-384 cases, so SHA-384 is
checked against pyca/cryptography's HKDF on inputs that cross block and output boundaries.
"""

from __future__ import annotations

import os
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from pqiot.hil.agent_client import Command, Status
from pqiot.reference.cbor import CborValue

from .conftest import Agent

KDF_DIR = Path(os.path.dirname(cryptography_vectors.__file__)) / "KDF"


def _load(name: str) -> list[dict[str, str]]:
    """Parse one NIST-style `KEY = value` vector file into one dict per COUNT block."""
    cases: list[dict[str, str]] = []
    for line in (KDF_DIR / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "COUNT":
            cases.append({})
        elif cases:
            cases[-1][key] = value
    return cases


RFC5869 = _load("rfc-5869-HKDF-SHA256.txt")
GENERATED = [c for c in _load("hkdf-generated.txt") if c["Hash"] == "SHA-256"]


def test_rfc5869_vectors_are_loaded() -> None:
    assert len(RFC5869) == 3 and len(GENERATED) >= 1


@pytest.mark.parametrize("case", RFC5869, ids=lambda c: f"L{c['L']}")
def test_rfc5869_sha256_full_extract_and_expand(agent: Agent, case: dict[str, str]) -> None:
    """REQ-TAP-009: HKDF computes RFC 5869 exactly (RFC 5869 Appendix A.1-A.3)."""
    salt, ikm = bytes.fromhex(case["salt"]), bytes.fromhex(case["IKM"])
    info, length = bytes.fromhex(case["info"]), int(case["L"])
    prk, okm = bytes.fromhex(case["PRK"]), bytes.fromhex(case["OKM"])
    call = agent.client.call
    full: dict[str, CborValue] = {
        "hash": -16,
        "salt": salt,
        "ikm": ikm,
        "info": info,
        "len": length,
    }
    assert call(Command.HKDF, full).ok() == {"okm": okm}
    extract: dict[str, CborValue] = {"hash": -16, "mode": "extract", "salt": salt, "ikm": ikm}
    assert call(Command.HKDF, extract).ok() == {"okm": prk}
    expand: dict[str, CborValue] = {
        "hash": -16,
        "mode": "expand",
        "prk": prk,
        "info": info,
        "len": length,
    }
    assert call(Command.HKDF, expand).ok() == {"okm": okm}


def test_generated_1200_byte_output(agent: Agent) -> None:
    case = GENERATED[0]
    args: dict[str, CborValue] = {
        "hash": -16,
        "salt": bytes.fromhex(case["salt"]),
        "ikm": bytes.fromhex(case["IKM"]),
        "info": bytes.fromhex(case["info"]),
        "len": int(case["L"]),
    }
    assert agent.client.call(Command.HKDF, args).ok() == {"okm": bytes.fromhex(case["OKM"])}


@pytest.mark.parametrize(
    ("salt_len", "ikm_len", "info_len", "length"),
    [(0, 32, 0, 48), (48, 32, 100, 200), (200, 1024, 2048, 1000), (129, 1, 127, 48 * 255)],
)
def test_sha384_matches_pyca(
    agent: Agent, salt_len: int, ikm_len: int, info_len: int, length: int
) -> None:
    """SHA-384 (the HKDF of suites -103/-104/-110): salts above the 128-byte block are hashed."""
    if agent.is_qemu and ikm_len > 64:
        pytest.skip("long inputs on QEMU's UART cost seconds; host covers the same C code")
    salt, ikm, info = (
        bytes(range(salt_len % 256)) * (1 + salt_len // 256),
        b"\x0b" * ikm_len,
        b"i" * info_len,
    )
    salt = salt[:salt_len]
    expected = HKDF(hashes.SHA384(), length, salt or None, info).derive(ikm)
    args: dict[str, CborValue] = {
        "hash": -43,
        "salt": salt,
        "ikm": ikm,
        "info": info,
        "len": length,
    }
    response = agent.client.call(Command.HKDF, args)
    if length + 16 > agent.identity["max_tap_response"]:
        assert response.status == Status.TOO_LARGE
        return
    assert response.ok() == {"okm": expected}
    prk = agent.client.call(Command.HKDF, {**args, "mode": "extract"}).ok()["okm"]
    assert isinstance(prk, bytes)
    again = HKDFExpand(hashes.SHA384(), length, info).derive(prk)
    assert again == expected


@pytest.mark.parametrize(
    ("hash_id", "length"), [(-16, 0), (-16, 255 * 32 + 1), (-43, 255 * 48 + 1)]
)
def test_len_outside_range_is_invalid_input(agent: Agent, hash_id: int, length: int) -> None:
    """REQ-TAP-007: HKDF len at most 255 x hash length; violations are status 6."""
    args: dict[str, CborValue] = {
        "hash": hash_id,
        "salt": b"",
        "ikm": b"k",
        "info": b"",
        "len": length,
    }
    assert agent.client.call(Command.HKDF, args).status == Status.INVALID_INPUT
    agent.assert_alive()


def test_unknown_hash_and_mode_are_unsupported(agent: Agent) -> None:
    base: dict[str, CborValue] = {"salt": b"", "ikm": b"k", "info": b"", "len": 32}
    assert agent.client.call(Command.HKDF, {**base, "hash": -44}).status == Status.UNSUPPORTED
    bad_mode: dict[str, CborValue] = {**base, "hash": -16, "mode": "both"}
    assert agent.client.call(Command.HKDF, bad_mode).status == Status.UNSUPPORTED
    assert (
        agent.client.call(Command.HKDF, {"hash": -16, "mode": "expand"}).status == Status.MALFORMED
    )
