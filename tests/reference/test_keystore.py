"""KeyStore trust decisions (spec §4.4.1 table), TOFU, persistence and crash safety."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pqiot.reference import cbor
from pqiot.reference.audit import AuditEvent, AuditLog, MemorySink
from pqiot.reference.credentials import Credential, akp_ccs, parse_ccs
from pqiot.reference.errors import Alert, DecodeError, ProtocolError
from pqiot.reference.keystore import CredentialSource, KeyStore, KeyStoreError
from pqiot.reference.trust import (
    CredentialResolver,
    TofuPinning,
    TrustBasis,
    kid_bytes,
)

ML_DSA_44 = -48
NOW = 1767225600.0


def cred(kid: bytes | int, tag: int = 0, subject: str = "sensor") -> Credential:
    """A CCS credential with a recognisable (not cryptographically valid) public key."""
    return akp_ccs(subject, kid, ML_DSA_44, bytes([tag]) * 1312)


KID_A = bytes.fromhex("a1a1a1a1a1a1a1a1")
KID_B = bytes.fromhex("b2b2b2b2b2b2b2b2")


def expect_alert(alert: Alert, call: object, *args: object, **kwargs: object) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert info.value.alert is alert, info.value
    return info.value


def test_keystore_satisfies_both_trust_protocols() -> None:
    store: CredentialResolver = KeyStore()
    assert isinstance(store, TofuPinning)


# -- the decision table of spec §4.4.1, row by row -----------------------------


@pytest.mark.parametrize("tofu", [False, True])
def test_kid_in_store_uses_stored_credential(tofu: bool) -> None:
    store = KeyStore(tofu=tofu)
    store.add(cred(KID_A))
    assert store.resolve({4: KID_A}, by_value_credential=None) == cred(KID_A)
    assert store.resolve(KID_A, by_value_credential=None) == cred(KID_A)  # compact form


@pytest.mark.parametrize("tofu", [False, True])
def test_unknown_kid_is_unknown_credential(tofu: bool) -> None:
    """REQ-KS-002."""
    store = KeyStore(tofu=tofu)
    store.add(cred(KID_A))
    expect_alert(Alert.UNKNOWN_CREDENTIAL, store.resolve, {4: KID_B}, by_value_credential=None)


@pytest.mark.parametrize("tofu", [False, True])
def test_by_value_identical_to_stored_is_accepted(tofu: bool) -> None:
    store = KeyStore(tofu=tofu)
    store.add(cred(KID_A))
    presented = cred(KID_A)
    assert (
        store.resolve({14: cbor.decode(presented.cred)}, by_value_credential=presented) == presented
    )


@pytest.mark.parametrize("tofu", [False, True])
def test_by_value_conflicting_with_stored_kid_is_authentication_failed(tofu: bool) -> None:
    """REQ-KS-004: never re-pin, TOFU on or off; the stored credential stays."""
    path_store = KeyStore(tofu=tofu)
    path_store.add(cred(KID_A, tag=1))
    impostor = cred(KID_A, tag=2)
    expect_alert(
        Alert.AUTHENTICATION_FAILED,
        path_store.resolve,
        {14: cbor.decode(impostor.cred)},
        by_value_credential=impostor,
    )
    expect_alert(Alert.AUTHENTICATION_FAILED, path_store.confirm, impostor)
    assert path_store.get(KID_A) == cred(KID_A, tag=1)


def test_by_value_unknown_kid_with_tofu_off_is_tofu_disabled() -> None:
    """REQ-KS-001 (off by default) and REQ-KS-003."""
    store = KeyStore()
    assert store.tofu is False
    newcomer = cred(KID_B)
    expect_alert(
        Alert.TOFU_DISABLED,
        store.resolve,
        {14: cbor.decode(newcomer.cred)},
        by_value_credential=newcomer,
    )
    expect_alert(Alert.TOFU_DISABLED, store.confirm, newcomer)
    assert len(store) == 0


def test_tofu_lends_the_credential_and_pins_only_on_confirm(tmp_path: Path) -> None:
    """REQ-KS-005: stored after the handshake succeeded, audited as a tofu_accept warning."""
    sink = MemorySink()
    path = tmp_path / "peers.json"
    store = KeyStore(path, tofu=True, audit=AuditLog(sink, clock=None))
    newcomer = cred(KID_B, subject="gateway")

    assert store.resolve({14: cbor.decode(newcomer.cred)}, by_value_credential=newcomer) == newcomer
    assert KID_B not in store and not path.exists()  # a failed handshake leaves no trace
    assert sink.lines == []

    assert store.confirm(newcomer, now=NOW) is True
    assert store.source(KID_B) is CredentialSource.TOFU
    assert KeyStore(path).get(KID_B) == newcomer  # durable before confirm returned
    [event] = sink.records
    assert event["event"] == "tofu_accept" and event["severity"] == "warning"
    assert event["peer"] == KID_B.hex()
    assert event["detail"]["subject"] == "gateway"  # type: ignore[index]

    # Later by-reference and by-value uses find the pin; confirming again is a no-op.
    assert store.resolve({4: KID_B}, by_value_credential=None) == newcomer
    assert store.confirm(newcomer, now=NOW) is False
    assert len(sink.records) == 1


def test_every_pin_is_audited() -> None:
    sink = MemorySink()
    store = KeyStore(tofu=True, audit=AuditLog(sink, clock=None))
    for i in range(3):
        store.confirm(cred(bytes([i]) * 8, tag=i), now=NOW)
    assert [r["peer"] for r in sink.events(AuditEvent.TOFU_ACCEPT)] == [
        "00" * 8,
        "01" * 8,
        "02" * 8,
    ]


def test_evaluate_returns_decisions_without_side_effects() -> None:
    store = KeyStore(tofu=True)
    store.add(cred(KID_A))
    newcomer = cred(KID_B)
    decision = store.evaluate({14: cbor.decode(newcomer.cred)}, by_value_credential=newcomer)
    assert decision.basis is TrustBasis.TOFU_NEW and decision.accepted and decision.by_tofu
    rejected = store.evaluate({4: b"\x99"})
    assert not rejected.accepted and rejected.alert is Alert.UNKNOWN_CREDENTIAL
    assert store.evaluate({4: KID_A}).basis is TrustBasis.ALLOW_LIST
    assert len(store) == 1


def test_kccs_map_is_parsed_when_no_credential_object_is_given() -> None:
    store = KeyStore()
    store.add(cred(KID_A))
    assert store.resolve({14: cbor.decode(cred(KID_A).cred)}, by_value_credential=None) == cred(
        KID_A
    )


def test_integer_kid_matches_its_one_byte_bstr_spelling() -> None:
    """RFC 9528 §3.5.3.2: kid h'2b' travels as the CBOR int -12."""
    store = KeyStore()
    store.add(cred(b"\x2b"))
    assert store.resolve(-12, by_value_credential=None) == cred(b"\x2b")
    assert kid_bytes(-12) == b"\x2b" and kid_bytes(5) == b"\x05"


@pytest.mark.parametrize(
    "id_cred",
    [{}, {4: "text"}, {4: KID_A, 14: {}}, {34: b"x5t"}, "kid", True, [KID_A]],
)
def test_malformed_id_cred_is_decode_error(id_cred: object) -> None:
    with pytest.raises(DecodeError):
        KeyStore().resolve(id_cred, by_value_credential=None)  # type: ignore[arg-type]


def test_by_value_credential_must_match_the_id_cred_kid() -> None:
    with pytest.raises(DecodeError, match="does not match"):
        KeyStore(tofu=True).resolve({4: KID_A}, by_value_credential=cred(KID_B))


def _dated(kid: bytes, **claims: int) -> Credential:
    """``cred(kid)`` with exp (4) / nbf (5) claims added: the validity period of REQ-CRED-008."""
    value = cbor.decode(cred(kid).cred)
    assert isinstance(value, dict)
    value.update({4: claims["exp"]} if "exp" in claims else {})
    value.update({5: claims["nbf"]} if "nbf" in claims else {})
    return parse_ccs(cbor.encode(value))


@pytest.mark.parametrize(
    ("claims", "valid"),
    [({"exp": int(NOW) + 1}, True), ({"exp": int(NOW)}, False), ({"nbf": int(NOW) + 1}, False)],
    ids=["exp-ahead", "exp-now", "nbf-ahead"],
)
def test_credential_outside_its_validity_period_is_authentication_failed(
    claims: dict[str, int], valid: bool
) -> None:
    """REQ-CRED-008: on the store's wall clock, by reference and by value alike."""
    credential = _dated(KID_A, **claims)
    store = KeyStore(clock=lambda: NOW)
    store.add(credential)  # provisioning ahead of nbf (or after exp) is allowed
    for id_cred, by_value in (({4: KID_A}, None), ({14: {}}, credential)):
        if valid:
            assert store.resolve(id_cred, by_value_credential=by_value) == credential
            continue
        with pytest.raises(ProtocolError) as info:
            store.resolve(id_cred, by_value_credential=by_value)
        assert (info.value.alert, info.value.requirement) == (
            Alert.AUTHENTICATION_FAILED,
            "REQ-CRED-008",
        )


def test_a_store_without_a_clock_skips_the_validity_check() -> None:
    """Spec §14 feature no-clock: no trustworthy clock, no exp/nbf check."""
    expired = _dated(KID_A, exp=1)
    store = KeyStore(clock=None)
    store.add(expired)
    assert store.resolve({4: KID_A}, by_value_credential=None) == expired


@pytest.mark.parametrize(
    ("kid", "public_key"),
    [(bytes(17), bytes(1312)), (b"", bytes(1312)), (KID_A, bytes(1311))],
    ids=["17-byte-kid", "empty-kid", "1311-byte-pub"],
)
def test_add_refuses_a_credential_that_breaks_the_ccs_rules(kid: bytes, public_key: bytes) -> None:
    """REQ-CRED-003/004 at provisioning time, even for a Credential built in code."""
    store = KeyStore()
    with pytest.raises(DecodeError):
        store.add(akp_ccs("sensor", kid, ML_DSA_44, public_key))
    assert len(store) == 0


# -- operator actions and persistence ------------------------------------------


def test_add_refuses_to_replace_a_different_credential() -> None:
    store = KeyStore()
    store.add(cred(KID_A, tag=1))
    store.add(cred(KID_A, tag=1))  # identical: no-op
    with pytest.raises(KeyStoreError, match="remove it first"):
        store.add(cred(KID_A, tag=2))


def test_store_round_trips_through_its_json_file(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    store = KeyStore(path)
    store.add(cred(KID_A, subject="plc"))
    # kid h'22' is the one-byte CBOR encoding of -3: found by its compact int form too.
    store.add(cred(b"\x22", tag=3), source=CredentialSource.TOFU)
    reloaded = KeyStore(path)
    assert reloaded.get(KID_A) == cred(KID_A, subject="plc")
    assert reloaded.get(-3) == cred(b"\x22", tag=3)
    assert reloaded.source(-3) is CredentialSource.TOFU
    document = json.loads(path.read_text("utf-8"))
    assert document["format"] == "pqiot-keystore" and document["version"] == 1
    assert {c["kid"] for c in document["credentials"]} == {KID_A.hex(), "22"}
    assert reloaded.remove(KID_A) is True and reloaded.remove(KID_A) is False
    assert KID_A not in KeyStore(path)


def _entry(**changes: object) -> dict[str, object]:
    c = cred(KID_A)
    entry: dict[str, object] = {
        "kid": KID_A.hex(),
        "source": "allow_list",
        "subject": c.subject,
        "alg": c.algorithm,
        "cred": c.cred.hex(),
    }
    entry.update(changes)
    return entry


def _valid_document() -> dict[str, object]:
    return {"format": "pqiot-keystore", "version": 1, "credentials": [_entry()]}


def _entry_with(**changes: object) -> dict[str, object]:
    return {**_valid_document(), "credentials": [_entry(**changes)]}


def test_valid_document_helper_loads(tmp_path: Path) -> None:
    """The negative cases below differ from this valid file in one field each."""
    path = tmp_path / "peers.json"
    path.write_text(json.dumps(_valid_document()))
    assert KeyStore(path).get(KID_A) == cred(KID_A)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "not a JSON object"),
        (json.dumps({**_valid_document(), "format": "other"}).encode(), '"format"'),
        (json.dumps({**_valid_document(), "version": 9}).encode(), '"version"'),
        (json.dumps({**_valid_document(), "credentials": {}}).encode(), "must be a list"),
        (json.dumps(_entry_with(cred="zz")).encode(), "credentials[0]"),
        (json.dumps(_entry_with(cred="a0")).encode(), "credentials[0]"),
        (json.dumps(_entry_with(source="maybe")).encode(), "credentials[0]"),
        (json.dumps(_entry_with(kid="00")).encode(), "does not match the credential's kid"),
        (json.dumps(_entry_with(alg=-49)).encode(), "disagree"),
        (
            json.dumps({**_valid_document(), "credentials": [_entry(), _entry()]}).encode(),
            "duplicate kid",
        ),
    ],
)
def test_bad_store_file_names_file_and_problem_and_is_left_untouched(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    """REQ-KS-010: never silently replaced by an empty store."""
    path = tmp_path / "peers.json"
    path.write_bytes(content)
    with pytest.raises(KeyStoreError) as info:
        KeyStore(path, tofu=True)
    assert str(path) in str(info.value) and problem in str(info.value)
    assert info.value.alert is Alert.INTERNAL_ERROR
    assert path.read_bytes() == content


@pytest.mark.parametrize(
    "content",
    [b"{not json", json.dumps(_entry_with(kid="00")).encode()],
    ids=["does-not-parse", "fails-kid-check"],
)
def test_unusable_store_at_start_up_is_audited_with_severity_error(
    tmp_path: Path, content: bytes
) -> None:
    """REQ-KS-010: refuse (internal_error) and emit one audit event with severity error.

    The event is handshake_failed {alert internal_error, origin local, state START}, the
    §10.2 audit of internal_error ("KeyStore unusable"); the file path stays out of it.
    """
    path = tmp_path / "peers.json"
    path.write_bytes(content)
    sink = MemorySink()
    with pytest.raises(KeyStoreError) as info:
        KeyStore(path, audit=AuditLog(sink, clock=None), clock=lambda: NOW)
    assert info.value.alert is Alert.INTERNAL_ERROR
    assert path.read_bytes() == content
    assert len(sink.lines) == 1 and "\n" not in sink.lines[0]
    (record,) = sink.records
    assert record["event"] == "handshake_failed" and record["severity"] == "error"
    assert record["ts"] == "2026-01-01T00:00:00.000Z"
    assert (record["peer"], record["suite"]) == (None, None)
    detail = record["detail"]
    assert isinstance(detail, dict)
    assert (detail["alert"], detail["origin"], detail["state"]) == (
        "internal_error",
        "local",
        "START",
    )
    assert str(tmp_path) not in sink.lines[0]


def test_usable_or_missing_store_file_emits_no_audit_event(tmp_path: Path) -> None:
    sink = MemorySink()
    log = AuditLog(sink, clock=None)
    KeyStore(tmp_path / "missing.json", audit=log, clock=lambda: NOW)
    path = tmp_path / "peers.json"
    path.write_text(json.dumps(_valid_document()))
    assert KeyStore(path, audit=log, clock=lambda: NOW).get(KID_A) == cred(KID_A)
    assert sink.lines == []


def test_failed_write_leaves_memory_and_file_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Durable first, then visible: a failing rename must not leave a phantom pin in memory."""
    path = tmp_path / "peers.json"
    store = KeyStore(path, tofu=True)
    store.add(cred(KID_A))
    before = path.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.confirm(cred(KID_B))
    monkeypatch.undo()
    assert KID_B not in store
    assert path.read_bytes() == before


def test_leftover_temp_files_do_not_disturb_loading(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    KeyStore(path).add(cred(KID_A))
    (tmp_path / ".peers.json.12345.tmp").write_bytes(
        b'{"format": "pqiot-keys'
    )  # torn write of a killed process
    assert KeyStore(path).get(KID_A) == cred(KID_A)


# -- crash safety with real SIGKILLs -------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys
    from pqiot.reference.credentials import akp_ccs
    from pqiot.reference.keystore import KeyStore

    store = KeyStore(sys.argv[1], tofu=True)
    start = int(sys.argv[2])
    print("ready", flush=True)
    for i in range(start, start + 100000):
        kid = i.to_bytes(8, "big")
        store.confirm(akp_ccs("peer", kid, -48, kid * 164))
        print(i, flush=True)  # reported only after confirm() returned
    """
)


def _kill_at_random_points(path: Path, rounds: int, seed: int) -> int:
    rng = random.Random(seed)
    next_index = 0
    pinned: set[int] = set()
    for _ in range(rounds):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path), str(next_index)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        reported = {int(line) for line in out.split()}
        pinned |= reported
        store = KeyStore(path)  # must load: never torn, never corrupt
        stored = {int.from_bytes(kid_bytes(t.credential.kid), "big") for t in store}
        assert pinned <= stored, f"lost pins {sorted(pinned - stored)[:5]}"
        assert all(t.credential.public_key == kid_bytes(t.credential.kid) * 164 for t in store)
        next_index = max(stored | {next_index - 1}) + 1
    return len(pinned)


def test_sigkill_at_random_points_never_loses_a_pin_nor_corrupts_the_store(tmp_path: Path) -> None:
    """REQ-KS-008 / REQ-KS-009, smoke variant (few kills)."""
    path = tmp_path / "peers.json"
    _kill_at_random_points(path, rounds=4, seed=1)
    assert len(KeyStore(path)) > 0


@pytest.mark.slow
def test_sigkill_campaign(tmp_path: Path) -> None:
    """REQ-KS-008 / REQ-KS-009, many kills."""
    path = tmp_path / "peers.json"
    _kill_at_random_points(path, rounds=40, seed=2)
