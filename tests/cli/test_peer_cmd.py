"""`pqiot peer`: handshake + echo over real TCP sockets, for every suite in the registry.

Each test runs the real command line in subprocesses: a responder that
listens on an ephemeral loopback port and an initiator that must print the
echo and exit 0, exactly as a vendor would use them against a device.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pqiot.reference import suites

from .conftest import falcon_keystore, initiator, pqiot
from .conftest import responder as listening_responder

LISTENING_TCP = re.compile(r"listening on tcp://([\d.]+):(\d+)")


@contextmanager
def responder(*args: str, sessions: int) -> Iterator[str]:
    """Start `pqiot peer --role responder` on an ephemeral port; yield its tcp:// URL."""
    with listening_responder("tcp://127.0.0.1:0", *args, sessions=sessions) as line:
        match = LISTENING_TCP.search(line)
        assert match, line
        yield f"tcp://{match.group(1)}:{match.group(2)}"


def _by_signature_algorithm(include_falcon: bool) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for suite in suites.all_suites():
        if suite.signature_alg in (-65601, -65602) and not include_falcon:
            continue
        groups.setdefault(suite.signature_alg, []).append(suite.id)
    return groups


@pytest.mark.parametrize(
    "suite_ids",
    list(_by_signature_algorithm(include_falcon=False).values()),
    ids=lambda ids: "suites" + "_".join(str(i) for i in ids),
)
def test_handshake_and_echo_for_every_non_falcon_suite(suite_ids: list[int]) -> None:
    """One responder per signature algorithm serves every suite that uses it (demo mode)."""
    responder_suites = [arg for s in suite_ids for arg in ("--suite", str(s))]
    with responder(*responder_suites, sessions=len(suite_ids)) as url:
        for suite_id in suite_ids:
            text = f"hello over suite {suite_id}"
            result = initiator(url, text, "--suite", str(suite_id))
            assert result.returncode == 0, result.stderr
            assert result.stdout == text + "\n"
            assert f"handshake completed, suite {suite_id}" in result.stderr
            assert "DEMO MODE" in result.stderr


def test_falcon512_suites_with_allow_listed_identities(tmp_path: Path) -> None:
    """Falcon suites (experimental) run with kid-referenced, allow-listed credentials.

    Each side has its own stored identity: peers may not share a ``sub`` (REQ-CRED-007).
    """
    server = falcon_keystore(tmp_path / "server", "server")
    client = falcon_keystore(tmp_path / "client", "client")
    falcon_suites = _by_signature_algorithm(include_falcon=True)[-65601]
    args = [arg for s in falcon_suites for arg in ("--suite", str(s))]
    with responder("--keystore", str(server), *args, sessions=len(falcon_suites)) as url:
        for suite_id in falcon_suites:
            result = initiator(url, "falcon", "--keystore", str(client), "--suite", str(suite_id))
            assert result.returncode == 0, result.stderr
            assert result.stdout == "falcon\n"
            assert "DEMO MODE" not in result.stderr


@pytest.mark.slow
def test_falcon1024_suite_in_demo_mode() -> None:
    """Falcon-1024 key generation in pure Python takes minutes: slow test."""
    with responder("--suite", "-110", sessions=1) as url:
        result = initiator(url, "falcon-1024", "--suite", "-110", "--timeout", "600")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "falcon-1024\n"


def test_unknown_peer_is_refused_without_tofu(tmp_path: Path) -> None:
    """REQ-KS: with a keystore and TOFU off, an unknown initiator gets no echo."""
    server = tmp_path / "server"
    assert pqiot("keys", "generate", "--alg", "ML-DSA-44", "--out", str(server)).returncode == 0
    with responder("--keystore", str(server), sessions=1) as url:
        result = initiator(url, "let me in")
    assert result.returncode == 1
    assert "tofu_disabled" in result.stderr or "unknown_credential" in result.stderr
    assert result.stdout == ""


def test_allow_listed_identities_by_kid(tmp_path: Path) -> None:
    server, client = tmp_path / "server", tmp_path / "client"
    for directory in (server, client):
        assert (
            pqiot("keys", "generate", "--alg", "ML-DSA-44", "--out", str(directory)).returncode == 0
        )
    assert (
        pqiot("keys", "trust", str(client / "ml-dsa-44.cred"), "--keystore", str(server)).returncode
        == 0
    )
    assert (
        pqiot("keys", "trust", str(server / "ml-dsa-44.cred"), "--keystore", str(client)).returncode
        == 0
    )
    with responder("--keystore", str(server), sessions=1) as url:
        result = initiator(url, "by kid", "--keystore", str(client))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "by kid\n"
    shown = pqiot("keys", "show", "--keystore", str(server), "--json")
    assert '"source": "allow_list"' in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["peer", "--role", "initiator", "--send", "x"], "needs --connect"),
        (["peer", "--role", "responder"], "needs --listen"),
        (["peer", "--role", "initiator", "--connect", "udp://1.2.3.4:5", "--send", "x"], "tcp://"),
        (
            [
                "peer",
                "--role",
                "initiator",
                "--connect",
                "tcp://127.0.0.1:1",
                "--send",
                "x",
                "--suite",
                "999",
            ],
            "unknown suite",
        ),
        (
            [
                "peer",
                "--role",
                "responder",
                "--listen",
                "tcp://127.0.0.1:0",
                "--suite",
                "-102",
                "--suite",
                "-103",
            ],
            "different signature",
        ),
    ],
)
def test_bad_invocations_fail_with_a_clear_message(args: list[str], message: str) -> None:
    result = pqiot(*args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_connection_refused_is_a_clear_failure() -> None:
    result = initiator("tcp://127.0.0.1:1", "nobody home")
    assert result.returncode == 1
    assert "cannot connect" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_suites() -> None:
    version = pqiot("--version")
    assert version.returncode == 0 and version.stdout.startswith("pqiot ")
    listing = pqiot("suites", "--json")
    assert listing.returncode == 0
    assert '"default": -102' in listing.stdout
    table = pqiot("suites")
    assert "MLKEM768-MLDSA44-A256GCM-SHA256" in table.stdout and "(default)" in table.stdout
