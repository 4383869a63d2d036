"""The typed client against the native firmware: recovery, resync and BLOCKED verdicts.

The DUT is crashed (SIGKILL) or hung (SIGSTOP) on purpose; the harness must
either produce the same answer after recovering or say BLOCKED: nothing is
lost and nothing passes silently.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from pqiot.hil.client import AgentClient, StatusError
from pqiot.hil.runner import TargetRunner
from pqiot.hil.target_schema import parse_description
from pqiot.hil.verdict import Blocked, Verdict
from pqiot.reference.tap.codes import Status

from .conftest import require_target


@pytest.fixture
def host_fw() -> Iterator[TargetRunner]:
    runner = require_target("host-fw")
    runner.up()
    yield runner
    runner.down()


def _client(runner: TargetRunner, **overrides: float) -> AgentClient:
    client = runner.client()
    client.timeout = overrides.get("timeout", 2.0)
    client.resync_timeout = overrides.get("resync_timeout", 0.5)
    return client


def test_a_killed_dut_is_restarted_and_the_command_gives_the_same_answer(
    host_fw: TargetRunner,
) -> None:
    client = _client(host_fw)
    before = client.mlkem_keygen(768, bytes(32), bytes(range(32)))
    host_fw.kill()
    after = client.mlkem_keygen(768, bytes(32), bytes(range(32)))
    assert after == before
    assert (client.recoveries, host_fw.starts) == (1, 2)
    client.close()


def test_a_hung_dut_is_detected_by_resync_and_recovered(host_fw: TargetRunner) -> None:
    """SIGSTOP freezes the DUT: the command times out, the resync ECHO too, then restart."""
    client = _client(host_fw, timeout=1.0, resync_timeout=0.3)
    client.echo(b"warm")
    assert host_fw.process is not None
    os.kill(host_fw.process.pid, signal.SIGSTOP)
    digest = client.hash("sha3-256", b"abc")
    assert digest.hex().startswith("3a985da7")
    assert client.recoveries == 1
    assert any("recovered" in line for line in client.log)
    client.close()


def test_a_stateful_command_after_a_crash_is_blocked_not_retried(host_fw: TargetRunner) -> None:
    """MEASURE refers to the previous command; after a restart that is gone: BLOCKED."""
    client = _client(host_fw)
    client.mlkem_keygen(512, bytes(32), bytes(32))
    host_fw.kill()
    with pytest.raises(Blocked) as caught:
        client.measure()
    assert caught.value.verdict is Verdict.BLOCKED
    assert "lost the state" in caught.value.reason
    assert client.recoveries == 1
    assert client.measure is not None  # the client stays usable after a BLOCKED verdict
    with pytest.raises(StatusError) as status:
        client.measure()
    assert status.value.status == Status.INVALID_STATE, "fresh DUT: nothing measured yet"
    client.close()


def test_without_recovery_a_dead_dut_is_blocked(host_fw: TargetRunner) -> None:
    client = AgentClient(host_fw.connect, recover=None, timeout=2.0, resync_timeout=0.5)
    client.echo(b"x")
    host_fw.kill()
    with pytest.raises(Blocked, match="no recovery is configured"):
        client.mlkem_keygen(512, bytes(32), bytes(32))


def test_a_dut_that_never_comes_back_is_blocked(host_fw: TargetRunner) -> None:
    def failing_recovery() -> None:
        raise RuntimeError("power switch did not answer")

    client = AgentClient(host_fw.connect, recover=failing_recovery, timeout=2.0, resync_timeout=0.5)
    client.echo(b"x")
    host_fw.kill()
    with pytest.raises(Blocked, match="recovery of the DUT failed") as caught:
        client.echo(b"y")
    assert "power switch did not answer" in str(caught.value)


def test_status_errors_are_results_not_link_failures(host_fw: TargetRunner) -> None:
    """A DUT that answers status 3 is healthy: no recovery, a StatusError with the status."""
    client = _client(host_fw)
    with pytest.raises(StatusError) as caught:
        client.hash("md5", b"")
    assert caught.value.status == Status.UNSUPPORTED
    assert client.recoveries == 0
    client.close()


def test_serial_framing_resyncs_after_line_noise() -> None:
    """Garbage on the serial line (no delimiter, bad CRC) is dropped; the next command works."""
    runner = require_target("host-fw")
    image = runner.image_path()
    description = parse_description(
        {
            "schema": 1,
            "name": "host-fw-serial",
            "kind": "host",
            "firmware": {"image": str(image)},
            "transport": {"url": "serial+stdio://"},
            "launch": {"command": ["{image}"]},
            "conformance": {"commands": [0, 2]},
        }
    )
    with TargetRunner(description) as serial_runner:
        client = serial_runner.client()
        tap = client.tap
        send_bytes = tap.channel.send_bytes
        send_bytes(os.urandom(300) + b"\x00" + b"\x05\x01\x02\x03\x04\x00")
        assert client.echo(b"after noise") == b"after noise"
        assert client.recoveries == 0
        client.close()


def test_host_measurements_are_wall_clock_ns(host_fw: TargetRunner) -> None:
    """REQ-TAP-018: a host build's figures are labelled wall_clock_ns, with no stack figure."""
    from pqiot.hil.measure import measure_target

    client = host_fw.client()
    report = measure_target(host_fw, client, repeats=1, primitives=["ml-kem-768"])
    assert report["unit"] == "wall_clock_ns"
    assert {op["cycle_source"] for op in report["operations"]} == {"host-ns"}
    assert all(op["stack_bytes"] is None for op in report["operations"])
    client.close()
