"""ML-KEM on the reference firmware (REQ-TAP-009, -010): NIST KATs from ``cryptography_vectors``
and random inputs checked against the Python reference, on every target."""

from __future__ import annotations

import functools
import os

import pytest

from pqiot.hil.agent_client import Command, Status
from pqiot.reference.cbor import CborValue
from pqiot.reference.crypto.mlkem import MLKEM512, MLKEM768, MLKEM1024, MlKem
from pqiot.vectors.sources.cryptography_vectors import rsp_records
from pqiot.vectors.sources.nist_rsp import hex_bytes

from .conftest import Agent

SCHEMES = {512: MLKEM512, 768: MLKEM768, 1024: MLKEM1024}
FIELDS = ("d", "z", "msg", "pk", "sk", "ct", "ss", "ct_n", "ss_n")
#: Records per size. QEMU's UART model takes guest input at ~5 KB/s, so one ML-KEM-768
#: record (8 KB of keys and ciphertexts to upload) costs ~1.5 s there.
HOST_RECORDS, QEMU_RECORDS = 25, 2


@functools.cache
def kat_records(size: int) -> list[dict[str, bytes]]:
    path = f"asymmetric/MLKEM/kat_MLKEM_{size}.rsp"
    return [{f: hex_bytes(r, f, path) for f in FIELDS} for r in rsp_records(path)]


def _sample(agent: Agent, size: int) -> list[dict[str, bytes]]:
    records = kat_records(size)
    count = QEMU_RECORDS if agent.is_qemu else HOST_RECORDS
    step = len(records) // count
    return records[::step][:count]


@pytest.mark.parametrize("size", sorted(SCHEMES))
def test_nist_kat_records(agent: Agent, size: int) -> None:
    """KeyGen_internal(d, z), Encaps_internal(ek, m), Decaps of c and of an invalid c."""
    call = agent.client.call
    for r in _sample(agent, size):
        keys = call(Command.MLKEM_KEYGEN, {"set": size, "d": r["d"], "z": r["z"]}).ok()
        assert (keys["ek"], keys["dk"]) == (r["pk"], r["sk"])
        enc = call(Command.MLKEM_ENCAPS, {"set": size, "ek": r["pk"], "m": r["msg"]}).ok()
        assert (enc["c"], enc["k"]) == (r["ct"], r["ss"])
        assert call(Command.MLKEM_DECAPS, {"set": size, "dk": r["sk"], "c": r["ct"]}).ok() == {
            "k": r["ss"]
        }
        # implicit rejection: a well-formed invalid ciphertext yields K-bar with status 0
        assert call(Command.MLKEM_DECAPS, {"set": size, "dk": r["sk"], "c": r["ct_n"]}).ok() == {
            "k": r["ss_n"]
        }


@pytest.mark.parametrize("size", sorted(SCHEMES))
def test_random_inputs_match_the_reference(agent: Agent, size: int) -> None:
    scheme: MlKem = SCHEMES[size]
    call = agent.client.call
    for _ in range(1 if agent.is_qemu else 3):
        d, z, m = os.urandom(32), os.urandom(32), os.urandom(32)
        ek, dk = scheme.keygen_internal(d, z)
        assert call(Command.MLKEM_KEYGEN, {"set": size, "d": d, "z": z}).ok() == {
            "ek": ek,
            "dk": dk,
        }
        k, c = scheme.encaps_internal(ek, m)
        assert call(Command.MLKEM_ENCAPS, {"set": size, "ek": ek, "m": m}).ok() == {"c": c, "k": k}
        garbage = os.urandom(scheme.ciphertext_size)
        expected = scheme.decaps(dk, garbage)
        assert call(Command.MLKEM_DECAPS, {"set": size, "dk": dk, "c": garbage}).ok() == {
            "k": expected
        }


def test_encapsulation_key_failing_the_modulus_check_is_invalid_input(agent: Agent) -> None:
    """REQ-TAP-010: ek with a coefficient >= q is answered with status 6."""
    ek = bytearray(kat_records(768)[0]["pk"])
    ek[0], ek[1] = 0xFF, ek[1] | 0x0F  # first 12-bit coefficient = 4095
    response = agent.client.call(
        Command.MLKEM_ENCAPS, {"set": 768, "ek": bytes(ek), "m": bytes(32)}
    )
    assert response.status == Status.INVALID_INPUT
    agent.assert_alive()


def test_decapsulation_key_failing_the_hash_check_is_invalid_input(agent: Agent) -> None:
    """REQ-TAP-010: dk whose H(ek) does not match is answered with status 6."""
    r = kat_records(512)[0]
    dk = bytearray(r["sk"])
    dk[768 + 32] ^= 1  # inside the stored H(ek) of ML-KEM-512 (k = 2)
    response = agent.client.call(Command.MLKEM_DECAPS, {"set": 512, "dk": bytes(dk), "c": r["ct"]})
    assert response.status == Status.INVALID_INPUT
    agent.assert_alive()


@pytest.mark.parametrize(
    ("command", "args"),
    [
        (Command.MLKEM_KEYGEN, {"set": 768, "d": bytes(31), "z": bytes(32)}),
        (Command.MLKEM_ENCAPS, {"set": 768, "ek": bytes(1183), "m": bytes(32)}),
        (Command.MLKEM_ENCAPS, {"set": 768, "ek": bytes(1184), "m": bytes(33)}),
        (Command.MLKEM_DECAPS, {"set": 768, "dk": bytes(2400), "c": bytes(1087)}),
        (Command.MLKEM_DECAPS, {"set": 1024, "dk": bytes(2400), "c": bytes(1568)}),
    ],
    ids=["short-d", "short-ek", "long-m", "short-c", "dk-of-other-set"],
)
def test_wrong_lengths_are_invalid_input(
    agent: Agent, command: int, args: dict[str, CborValue]
) -> None:
    """REQ-TAP-010: wrong key, seed or ciphertext lengths are answered with status 6."""
    assert agent.client.call(command, args).status == Status.INVALID_INPUT
    agent.assert_alive()


def test_unknown_parameter_set_is_unsupported(agent: Agent) -> None:
    """REQ-TAP-004: status 3 for a parameter set the DUT does not implement."""
    response = agent.client.call(Command.MLKEM_KEYGEN, {"set": 256, "d": bytes(32), "z": bytes(32)})
    assert response.status == Status.UNSUPPORTED
    agent.assert_alive()


@pytest.mark.slow
@pytest.mark.parametrize("size", sorted(SCHEMES))
def test_all_nist_kat_records_on_host_builds(agent: Agent, size: int) -> None:
    """All 1000 records per size (host builds; QEMU's UART would need ~25 min per size)."""
    if agent.is_qemu:
        pytest.skip("full KAT files are run on the host builds only")
    call = agent.client.call
    for r in kat_records(size):
        keys = call(Command.MLKEM_KEYGEN, {"set": size, "d": r["d"], "z": r["z"]}).ok()
        assert (keys["ek"], keys["dk"]) == (r["pk"], r["sk"])
        enc = call(Command.MLKEM_ENCAPS, {"set": size, "ek": r["pk"], "m": r["msg"]}).ok()
        assert (enc["c"], enc["k"]) == (r["ct"], r["ss"])
        assert call(Command.MLKEM_DECAPS, {"set": size, "dk": r["sk"], "c": r["ct_n"]}).ok() == {
            "k": r["ss_n"]
        }
