"""Fixtures for binding tests: a real mosquitto on loopback, and ready-made parties.

The broker listens on 127.0.0.1 only, on a free port, with a generated
configuration and persistence in a temporary directory (so a restart keeps
QoS 1 sessions, as a production broker would).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pqiot.reference.audit import AuditLog, MemorySink
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.edhoc.config import HandshakeConfig
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.identity import Identity, generate_identity, load_identity
from pqiot.reference.keystore import KeyStore
from pqiot.reference.session import Session
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.suites import METHOD_SIGNATURE

MOSQUITTO = "/usr/sbin/mosquitto"
DATA = Path(__file__).parent.parent / "reference" / "data"
FALCON_SUITE = -109
DEFAULT_SUITE = -102


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    """A mosquitto process we own; ``restart()`` keeps its port and persisted state."""

    directory: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conf = self.directory / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "set_tcp_nodelay true\n"
            "persistence true\n"
            f"persistence_location {self.directory}/\n"
            "autosave_interval 1\nlog_type all\n"
            f"log_dest file {self.directory}/mosquitto.log\n"
            # mosquitto started by root drops to user "mosquitto", which could not write
            # the persistence file in our temporary directory: stay the current user.
            f"user {getpass.getuser()}\n"
        )
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "mosquitto.log").read_text(errors="replace")
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}: {log}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not accept connections within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: mosquitto saves its persistence file
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


def _broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip(f"{MOSQUITTO} missing: `make setup` installs the mosquitto package")
    broker = Broker(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker shared by the tests of one module."""
    yield from _broker(tmp_path_factory)


@pytest.fixture
def own_mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker for one test (restart tests)."""
    yield from _broker(tmp_path_factory)


# -- parties ---------------------------------------------------------------------


@dataclass
class Parties:
    """Two identities that trust each other by kid, and session factories for a suite."""

    suite: int
    initiator_identity: Identity
    responder_identity: Identity
    audit_i: MemorySink = field(default_factory=MemorySink)
    audit_r: MemorySink = field(default_factory=MemorySink)

    def _session(
        self, role: str, cid: bytes | None, binding_context: bytes, seed: bytes | None
    ) -> Session:
        me, peer, sink = (
            (self.initiator_identity, self.responder_identity, self.audit_i)
            if role == "initiator"
            else (self.responder_identity, self.initiator_identity, self.audit_r)
        )
        audit = AuditLog(sink, clock=None)
        store = KeyStore(audit=audit)
        store.add(peer.credential)
        provider = SoftwareSecurityProvider()
        extra = {} if seed is None else {"rng": ShakeRng(seed)}
        config = HandshakeConfig(
            role=role,  # type: ignore[arg-type]
            method=METHOD_SIGNATURE,
            suites=(self.suite,),
            credential=me.credential,
            key=me.install(provider),
            provider=provider,
            resolver=store,
            connection_id=cid,
            **extra,  # type: ignore[arg-type]
        )
        handshake = Initiator(config) if role == "initiator" else Responder(config)
        return Session(handshake, audit=audit, binding_context=binding_context, **extra)  # type: ignore[arg-type]

    def initiator(
        self, cid: bytes | None = None, binding_context: bytes = b"", seed: bytes | None = None
    ) -> Session:
        return self._session("initiator", cid, binding_context, seed)

    def responder(
        self, cid: bytes | None = None, binding_context: bytes = b"", seed: bytes | None = None
    ) -> Session:
        return self._session("responder", cid, binding_context, seed)

    def responder_factory(self) -> Callable[[bytes], Session]:
        return lambda cid: self.responder(cid)


_IDENTITIES: dict[str, Identity] = {}


def falcon_identity(tmp: Path, name: str = "falcon512-test") -> Identity:
    """A stored Falcon-512 test identity (pure-Python Falcon keygen is too slow for tests)."""
    if name not in _IDENTITIES:
        for suffix in (".key", ".cred"):
            shutil.copy(DATA / f"{name}{suffix}", tmp / f"{name}{suffix}")
        os.chmod(tmp / f"{name}.key", 0o600)
        _IDENTITIES[name] = load_identity(tmp, name)
    return _IDENTITIES[name]


def mldsa_identity(name: str) -> Identity:
    if name not in _IDENTITIES:
        _IDENTITIES[name] = generate_identity(
            "ML-DSA-44", subject=name, rng=ShakeRng(name.encode())
        )
    return _IDENTITIES[name]


def make_parties(suite: int, tmp: Path) -> Parties:
    """Each role has its own identity: peers with one ``sub`` abort (REQ-CRED-007)."""
    if suite == FALCON_SUITE:
        return Parties(
            suite, falcon_identity(tmp, "falcon512-test"), falcon_identity(tmp, "falcon512-test-b")
        )
    return Parties(suite, mldsa_identity("initiator"), mldsa_identity("responder"))


@pytest.fixture(params=[DEFAULT_SUITE, FALCON_SUITE], ids=["suite-102", "suite-109"])
def parties(request: pytest.FixtureRequest, tmp_path: Path) -> Parties:
    return make_parties(int(request.param), tmp_path)


@pytest.fixture
def default_parties(tmp_path: Path) -> Parties:
    return make_parties(DEFAULT_SUITE, tmp_path)
