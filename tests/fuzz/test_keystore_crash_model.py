"""The KeyStore under crashes and restarts (D6, REQ-KS-003..005, REQ-KS-010).

Hypothesis adds, pins (TOFU), removes and looks up credentials, re-opens the
store from disk at random points, and makes the process "die" inside a
write — before the new file is durable (a torn temporary file is left
behind) or right after it (the change is on disk but the caller never heard
back). Checked against a dict model: what was reported as stored is on disk
after every restart, a pinned kid is never accepted under another
credential, and a crash never leaves a store that fails to load.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pqiot.fuzz.profiles import stateful_settings
from pqiot.reference import keystore as keystore_module
from pqiot.reference import storage as storage_module
from pqiot.reference.credentials import Credential, akp_ccs
from pqiot.reference.errors import Alert, ProtocolError
from pqiot.reference.keystore import CredentialSource, KeyStore, KeyStoreError
from pqiot.reference.storage import atomic_write_bytes
from pqiot.reference.trust import TrustBasis

KIDS = (b"\x01", b"\x02\x02", b"\x0a\x0b\x0c")
#: Two different credentials per kid: the second is what an impostor would send.
CREDENTIALS = tuple(
    akp_ccs(f"device-{kid.hex()}-{variant}", kid, -48, bytes([variant]) * 1312)
    for kid in KIDS
    for variant in (1, 2)
)


class SimulatedCrash(Exception):
    """The process died here."""


class KeyStoreCrashMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="pqiot-ks-crash-"))
        self.path = self.directory / "keystore.json"
        self.crash: str | None = None  # where the next write dies: see _write
        self.patch = mock.patch.object(keystore_module, "atomic_write_bytes", self._write)
        self.patch.start()
        self.store = KeyStore(self.path, tofu=True)
        self.model: dict[bytes, tuple[bytes, CredentialSource]] = {}

    def teardown(self) -> None:
        self.patch.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _write(self, path: Path, data: bytes) -> None:
        """The real ``atomic_write_bytes``, with the process dying at the armed point inside it."""
        mode, self.crash = self.crash, None
        real_write, real_replace = os.write, os.replace

        def torn_write(fd: int, chunk: memoryview | bytes) -> int:
            real_write(fd, bytes(chunk[: max(1, len(chunk) // 2)]))
            raise SimulatedCrash

        def replace(src: Path, dst: Path) -> None:
            if mode == "before_rename":
                raise SimulatedCrash
            real_replace(src, dst)
            raise SimulatedCrash  # "after_rename": durable, but the caller never returns

        if mode is None:
            atomic_write_bytes(path, data)
            return
        patches = {
            "mid_write": {"write": torn_write},
            "before_rename": {"replace": replace},
            "after_rename": {"replace": replace},
        }[mode]
        with mock.patch.multiple(storage_module.os, **patches):  # type: ignore[arg-type]
            atomic_write_bytes(path, data)

    def _restart(self) -> None:
        self.store = KeyStore(self.path, tofu=True)

    def _mutate(
        self, action: object, kid: bytes, new: tuple[bytes, CredentialSource] | None
    ) -> object:
        """Run a store change; on a simulated crash apply the model per crash point and restart."""
        mode = self.crash
        try:
            result = action()  # type: ignore[operator]
        except SimulatedCrash:
            if mode == "after_rename":
                self._apply(kid, new)
            self._restart()
            return SimulatedCrash
        self.crash = None
        self._apply(kid, new)
        return result

    def _apply(self, kid: bytes, new: tuple[bytes, CredentialSource] | None) -> None:
        if new is None:
            self.model.pop(kid, None)
        else:
            self.model[kid] = new

    # -- rules --------------------------------------------------------------------

    credentials = st.sampled_from(CREDENTIALS)

    @rule(mode=st.sampled_from(["mid_write", "before_rename", "after_rename"]))
    def crash_during_the_next_write(self, mode: str) -> None:
        self.crash = mode

    @rule()
    def restart(self) -> None:
        self.crash = None
        self._restart()

    @rule(credential=credentials)
    def operator_adds(self, credential: Credential) -> None:
        kid = bytes(credential.kid)
        stored = self.model.get(kid)
        if stored is not None and stored[0] != credential.cred:
            try:
                self.store.add(credential)
            except KeyStoreError:
                return
            raise AssertionError("add() replaced a stored credential with other bytes")
        if stored is not None and stored[1] is CredentialSource.ALLOW_LIST:
            self.store.add(credential)  # identical: a no-op, nothing written
            return
        self._mutate(
            lambda: self.store.add(credential),
            kid,
            (credential.cred, CredentialSource.ALLOW_LIST),
        )

    @rule(credential=credentials)
    def peer_proves_a_credential_sent_by_value(self, credential: Credential) -> None:
        """TOFU: the handshake verified the peer, now it is pinned (REQ-KS-005)."""
        kid = bytes(credential.kid)
        stored = self.model.get(kid)
        if stored is not None:
            if stored[0] == credential.cred:
                assert self.store.confirm(credential) is False
                return
            try:
                self.store.confirm(credential)
            except ProtocolError as exc:
                assert exc.alert is Alert.AUTHENTICATION_FAILED
                return
            raise AssertionError("a pinned kid was accepted under another credential")
        result = self._mutate(
            lambda: self.store.confirm(credential), kid, (credential.cred, CredentialSource.TOFU)
        )
        assert result in (True, SimulatedCrash)

    @rule(kid=st.sampled_from(KIDS))
    def operator_removes(self, kid: bytes) -> None:
        if kid not in self.model:
            assert self.store.remove(kid) is False
            return
        self._mutate(lambda: self.store.remove(kid), kid, None)

    @rule(credential=credentials)
    def lookup_by_value(self, credential: Credential) -> None:
        """REQ-KS-004: a stored kid is only ever accepted with its stored bytes."""
        kid = bytes(credential.kid)
        decision = self.store.evaluate({4: kid}, by_value_credential=credential)
        stored = self.model.get(kid)
        if stored is None:
            assert decision.basis is TrustBasis.TOFU_NEW
        elif stored[0] == credential.cred:
            assert decision.credential is not None and decision.credential.cred == stored[0]
        else:
            assert decision.basis is TrustBasis.PINNED_KEY_CONFLICT
            assert decision.credential is None

    # -- invariants -----------------------------------------------------------------

    @invariant()
    def memory_matches_the_model(self) -> None:
        found = {bytes(e.credential.kid): (e.credential.cred, e.source) for e in self.store}
        assert found == self.model

    @invariant()
    def disk_matches_the_model(self) -> None:
        """What was reported stored survives a restart; nothing else appears."""
        if not self.path.exists():
            assert not self.model
            return
        on_disk = {
            bytes(e.credential.kid): (e.credential.cred, e.source) for e in KeyStore(self.path)
        }
        assert on_disk == self.model


TestKeyStoreCrashes = KeyStoreCrashMachine.TestCase
TestKeyStoreCrashes.settings = stateful_settings(scale=2)
