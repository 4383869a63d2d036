"""Known-answer tests through TAP on the native firmware build (host-fw)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pqiot.hil.client import AgentClient
from pqiot.hil.runner import TargetRunner

from .conftest import require_target


@pytest.fixture(scope="module")
def host_fw() -> Iterator[AgentClient]:
    runner: TargetRunner = require_target("host-fw")
    runner.up()
    client = runner.client()
    yield client
    client.close()
    runner.down()


def _first_kat(parameter_set: int) -> dict[str, bytes]:
    import cryptography_vectors

    record: dict[str, bytes] = {}
    path = f"asymmetric/MLKEM/kat_MLKEM_{parameter_set}.rsp"
    with cryptography_vectors.open_vector_file(path, "r") as f:
        for line in f:
            if " = " in line:
                key, value = line.strip().split(" = ", 1)
                if key != "count":
                    record[key] = bytes.fromhex(value)
            elif record:
                break
    return record


@pytest.mark.parametrize("parameter_set", [512, 768, 1024])
def test_mlkem_kat_through_the_agent(host_fw: AgentClient, parameter_set: int) -> None:
    """REQ-TAP-009: the first FIPS 203 KAT record of each parameter set (cryptography-vectors)."""
    kat = _first_kat(parameter_set)
    assert host_fw.mlkem_keygen(parameter_set, kat["d"], kat["z"]) == (kat["pk"], kat["sk"])
    assert host_fw.mlkem_encaps(parameter_set, kat["pk"], kat["msg"]) == (kat["ct"], kat["ss"])
    assert host_fw.mlkem_decaps(parameter_set, kat["sk"], kat["ct"]) == kat["ss"]


@pytest.mark.slow
def test_all_primitive_kat_sets_on_host_fw(host_fw: AgentClient) -> None:
    """Every primitive KAT set through TAP on the native build (about 15 s)."""
    from pqiot.hil.primitive_adapter import TapPrimitiveAgent
    from pqiot.vectors.catalog import find_set
    from pqiot.vectors.runner import run_set

    agent = TapPrimitiveAgent(host_fw, "host-fw")
    for name in ("mlkem-kat", "mldsa-kat", "accumulated-100", "negative-primitives"):
        result = run_set(find_set(name), agent, include_slow=True, reference=False)
        assert result.failed == 0, (name, result.failures[:3])
        assert result.passed > 0, name
