"""Helpers shared by the `pqiot peer` tests: run the real command line in subprocesses.

Plain functions, imported by the test modules (``from .conftest import ...``), so the
TCP tests (test_peer_cmd.py) and the serial/MQTT/CoAP tests (test_peer_bindings.py)
start responders, run initiators and build Falcon keystores the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATA = Path(__file__).parent.parent / "reference" / "data"
PQIOT = [sys.executable, "-m", "pqiot.cli"]
#: The responder's stderr line that says it is ready for an initiator.
LISTENING = re.compile(r"listening on \S+")

#: Stored Falcon-512 identity per role; each side trusts the other's. The two peers of
#: a session need different subjects (REQ-CRED-007), so the roles never share one.
FALCON_IDENTITY = {"server": "falcon512-test", "client": "falcon512-test-b"}


def pqiot(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``pqiot ARGS`` to completion, capturing its output as text."""
    return subprocess.run(
        [*PQIOT, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@contextmanager
def responder(url: str, *args: str, sessions: int = 1) -> Iterator[str]:
    """Run an echoing `pqiot peer --role responder --listen URL` for ``sessions`` sessions.

    Yields the stderr line that announced it listening (it names the bound address,
    which matters for ``tcp://…:0``); on leaving, the responder must exit 0.
    """
    proc = subprocess.Popen(
        [
            *PQIOT,
            "peer",
            "--role",
            "responder",
            "--listen",
            url,
            "--echo",
            "--max-sessions",
            str(sessions),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if LISTENING.search(line):
                break
        else:
            proc.wait(timeout=5)
            raise AssertionError(f"responder did not start (exit {proc.returncode})")
        yield line
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def initiator(
    url: str, text: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `pqiot peer --role initiator --connect URL --send TEXT ARGS`."""
    return pqiot(
        "peer", "--role", "initiator", "--connect", url, "--send", text, *args, timeout=timeout
    )


def falcon_keystore(directory: Path, role: str) -> Path:
    """A keystore directory with ``role``'s stored Falcon-512 identity, trusting the other's."""
    own = FALCON_IDENTITY[role]
    (peer,) = (name for name in FALCON_IDENTITY.values() if name != own)
    directory.mkdir()
    for suffix in (".key", ".cred", ".json"):
        shutil.copy(DATA / f"{own}{suffix}", directory / f"{own}{suffix}")
    os.chmod(directory / f"{own}.key", 0o600)
    trusted = pqiot("keys", "trust", str(DATA / f"{peer}.cred"), "--keystore", str(directory))
    assert trusted.returncode == 0, trusted.stderr
    return directory
