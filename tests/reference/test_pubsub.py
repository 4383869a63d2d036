"""Signed pub/sub messages (D5): known answer, topic binding, replay window, freshness, encryption."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from dilithium_py.ml_dsa import ML_DSA_44

from pqiot.reference import cbor
from pqiot.reference.audit import AuditEvent, AuditLog, MemorySink
from pqiot.reference.credentials import akp_ccs
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.errors import Alert, DecodeError, ProtocolError
from pqiot.reference.identity import Identity, load_identity
from pqiot.reference.keystore import KeyStore
from pqiot.reference.pubsub import (
    GroupKey,
    MessageVerifier,
    ReplayWindow,
    TopicError,
    VerifiedMessage,
    sign_message,
    validate_topic,
)
from pqiot.reference.security_provider import KeyRef
from pqiot.reference.software_provider import SoftwareSecurityProvider

XI = bytes(range(32))
KID = bytes.fromhex("0102030405060708")
TOPIC = "plant/line1/temp"
T0_MS = 1767225600000  # 2026-01-01T00:00:00Z
T0 = T0_MS / 1000
GROUP = GroupKey(b"g1", bytes(range(32)))
DATA = Path(__file__).parent / "data"


class Sender:
    """One ML-DSA-44 publisher; hedged signing via OpenSSL unless ``deterministic``."""

    def __init__(
        self,
        xi: bytes = XI,
        kid: bytes = KID,
        subject: str = "sensor",
        *,
        deterministic: bool = False,
    ) -> None:
        self.public_key, self.expanded = ML_DSA_44.key_derive(xi)
        self.provider = (
            SoftwareSecurityProvider(rng=None) if deterministic else SoftwareSecurityProvider()
        )
        self.ref: KeyRef = self.provider.add_signature_key("id", -48, xi, self.public_key)
        self.kid = kid
        self.credential = akp_ccs(subject, kid, -48, self.public_key)

    def sign(
        self,
        seq: int,
        *,
        topic: str = TOPIC,
        ts: int = T0_MS,
        content: bytes = b"21.5C",
        **kw: object,
    ) -> bytes:
        return sign_message(self.provider, self.ref, self.kid, topic, seq, ts, content, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sender() -> Sender:
    return Sender()


@pytest.fixture
def store(sender: Sender) -> KeyStore:
    keystore = KeyStore()
    keystore.add(sender.credential)
    return keystore


@pytest.fixture
def verifier(store: KeyStore) -> MessageVerifier:
    return MessageVerifier(store)


def parts(encoded: bytes) -> list[Any]:
    """Decode a CBOR array (COSE_Sign1, payload, COSE_Encrypt0) for inspection."""
    value = cbor.decode(encoded)
    assert isinstance(value, list)
    return value


def expect_alert(alert: Alert, call: Callable[[], object]) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        call()
    assert info.value.alert is alert, info.value
    return info.value


# -- known answer ---------------------------------------------------------------

# Expected bytes assembled by hand from D5 (RFC 8949 heads written out), not by the codec.
PROTECTED = bytes.fromhex("a201382f04480102030405060708")  # {1: -48, 4: h'01..08'}, 14 bytes
EXTERNAL_AAD = bytes.fromhex(
    "82725051432d49496f542070756273756220763170706c616e742f6c696e65312f74656d70"
)  # ["PQC-IIoT pubsub v1", "plant/line1/temp"]
PAYLOAD = bytes.fromhex("83071b0000019b76daa8004532312e3543")  # [7, 1767225600000, h'21.5C']
SIG_STRUCTURE = (
    bytes.fromhex("846a5369676e6174757265314e")
    + PROTECTED
    + bytes.fromhex("5825")
    + EXTERNAL_AAD
    + bytes.fromhex("51")
    + PAYLOAD
)  # ["Signature1", protected, external_aad, payload]


def test_known_answer_signed_message() -> None:
    """Deterministic ML-DSA-44 (FIPS 204, rnd = 0^32) over the hand-built Sig_structure."""
    sender = Sender(deterministic=True)
    signature = ML_DSA_44.sign(sender.expanded, SIG_STRUCTURE, deterministic=True)
    assert len(signature) == 2420
    expected = (
        bytes.fromhex("844e")
        + PROTECTED
        + bytes.fromhex("a051")
        + PAYLOAD
        + bytes.fromhex("590974")
        + signature
    )
    message = sender.sign(7)
    assert message == expected
    store = KeyStore()
    store.add(sender.credential)
    assert MessageVerifier(store).verify(message, TOPIC, now=T0).content == b"21.5C"
    assert (
        hashlib.sha256(message).hexdigest()
        == "b8feeeede7754c1265fd0d9ed4fd510ca8c980382e78facb470d8b2a218ddaf6"
    )


def test_round_trip(verifier: MessageVerifier, sender: Sender) -> None:
    result = verifier.verify(sender.sign(7), TOPIC, now=T0)
    assert result == VerifiedMessage(KID, TOPIC, 7, T0_MS, b"21.5C", sender.credential)
    assert result.group_kid is None


# -- binding, tampering, unknown senders -----------------------------------------


def test_message_is_bound_to_its_topic(verifier: MessageVerifier, sender: Sender) -> None:
    message = sender.sign(1)
    error = expect_alert(
        Alert.AUTHENTICATION_FAILED, lambda: verifier.verify(message, "plant/line2/temp", now=T0)
    )
    assert "signature" in error.detail
    assert verifier.verify(message, TOPIC, now=T0).seq == 1  # not consumed by the failure


def test_unknown_sender_kid(sender: Sender) -> None:
    verifier = MessageVerifier(KeyStore())
    expect_alert(Alert.UNKNOWN_CREDENTIAL, lambda: verifier.verify(sender.sign(1), TOPIC, now=T0))


def test_other_key_under_the_same_kid_fails(verifier: MessageVerifier) -> None:
    impostor = Sender(xi=bytes(32), kid=KID)
    expect_alert(
        Alert.AUTHENTICATION_FAILED, lambda: verifier.verify(impostor.sign(1), TOPIC, now=T0)
    )


def test_alg_header_must_match_the_credential(verifier: MessageVerifier, sender: Sender) -> None:
    sign1 = parts(sender.sign(1))
    sign1[0] = cbor.encode({1: -49, 4: KID})
    forged = cbor.encode(sign1)
    expect_alert(Alert.AUTHENTICATION_FAILED, lambda: verifier.verify(forged, TOPIC, now=T0))


@pytest.mark.parametrize("index", [2, 3])
def test_tampered_payload_or_signature(
    verifier: MessageVerifier, sender: Sender, index: int
) -> None:
    sign1 = parts(sender.sign(1))
    field = bytearray(sign1[index])
    field[len(field) // 2] ^= 0x01
    sign1[index] = bytes(field)
    forged = cbor.encode(sign1)
    expect_alert(Alert.AUTHENTICATION_FAILED, lambda: verifier.verify(forged, TOPIC, now=T0))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m[:-1],  # truncated
        lambda m: m + b"\x00",  # trailing byte
        lambda m: b"\x83" + m[1:],  # 3-element array
        lambda m: cbor.encode([*parts(m)[:1], {4: KID}, *parts(m)[2:]]),  # unprotected not empty
        lambda m: cbor.encode([cbor.encode({1: -48}), *parts(m)[1:]]),  # kid missing
        lambda m: cbor.encode([cbor.encode({1: -48, 4: 5}), *parts(m)[1:]]),  # kid not bstr
        lambda m: cbor.encode([*parts(m)[:2], cbor.encode([1, 2]), parts(m)[3]]),  # payload shape
        lambda m: cbor.encode([*parts(m)[:2], cbor.encode([-1, 2, b""]), parts(m)[3]]),  # seq < 0
        lambda m: b"\xd2" + m,  # tagged COSE_Sign1: tags are outside the profile
    ],
)
def test_malformed_messages_are_decode_errors(
    verifier: MessageVerifier, sender: Sender, mutate: Callable[[bytes], bytes]
) -> None:
    """REQ-ENC-011: one error kind for malformed input."""
    with pytest.raises(DecodeError):
        verifier.verify(mutate(sender.sign(1)), TOPIC, now=T0)


def test_random_mutations_only_raise_protocol_errors(
    verifier: MessageVerifier, sender: Sender
) -> None:
    """REQ-GEN-002: no input crashes the verifier."""
    message = sender.sign(1)
    rng = random.Random(5)
    for _ in range(150):
        mutated = bytearray(message)
        for _ in range(rng.randint(1, 4)):
            # XOR with a non-zero value: the byte really changes (setting a random
            # value would sometimes rewrite the same byte, and the signature is hedged,
            # so the message differs between runs).
            mutated[rng.randrange(min(len(mutated), 60))] ^= rng.randrange(1, 256)
        if bytes(mutated) == message:  # two flips of one byte cancelled out
            continue
        with pytest.raises(ProtocolError):
            verifier.verify(bytes(mutated), TOPIC, now=T0)


def test_oversize_message(verifier: MessageVerifier) -> None:
    expect_alert(Alert.MESSAGE_TOO_LARGE, lambda: verifier.verify(b"\x00" * 65537, TOPIC, now=T0))


# -- freshness ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta_ms", "fresh"),
    [(0, True), (300_000, True), (-300_000, True), (300_001, False), (-300_001, False)],
)
def test_timestamp_skew(
    verifier: MessageVerifier, sender: Sender, delta_ms: int, fresh: bool
) -> None:
    """REQ-PUBSUB-012, §8.3 step 8: outside the 300 s skew is replay_detected "stale"."""
    message = sender.sign(1, ts=T0_MS + delta_ms)
    if fresh:
        assert verifier.verify(message, TOPIC, now=T0).seq == 1
    else:
        error = expect_alert(Alert.REPLAY_DETECTED, lambda: verifier.verify(message, TOPIC, now=T0))
        assert error.detail == "stale"


def test_custom_skew(store: KeyStore, sender: Sender) -> None:
    verifier = MessageVerifier(store, skew_s=5)
    error = expect_alert(
        Alert.REPLAY_DETECTED,
        lambda: verifier.verify(sender.sign(1, ts=T0_MS - 5001), TOPIC, now=T0),
    )
    assert error.detail == "stale"
    assert verifier.verify(sender.sign(2, ts=T0_MS - 5000), TOPIC, now=T0).seq == 2


def test_seq_replay_is_checked_before_the_timestamp(
    verifier: MessageVerifier, sender: Sender
) -> None:
    """REQ-PUBSUB-007: step 7 (window) before step 8 (skew); a stale duplicate is a seq replay."""
    verifier.verify(sender.sign(4), TOPIC, now=T0)
    error = expect_alert(
        Alert.REPLAY_DETECTED,
        lambda: verifier.verify(sender.sign(4, ts=T0_MS - 400_000), TOPIC, now=T0),
    )
    assert error.detail == "seq 4 was already received"


def test_stale_message_does_not_advance_the_window(
    verifier: MessageVerifier, sender: Sender
) -> None:
    """§8.3 step 9 runs only after step 8: a stale message consumes no seq."""
    expect_alert(
        Alert.REPLAY_DETECTED,
        lambda: verifier.verify(sender.sign(6, ts=T0_MS + 400_000), TOPIC, now=T0),
    )
    assert verifier.verify(sender.sign(6), TOPIC, now=T0).seq == 6


def test_bad_signature_is_checked_before_the_timestamp(
    verifier: MessageVerifier, sender: Sender
) -> None:
    """Step 6 before step 8: a stale message on the wrong topic is authentication_failed."""
    message = sender.sign(1, ts=T0_MS - 400_000)
    expect_alert(Alert.AUTHENTICATION_FAILED, lambda: verifier.verify(message, "plant/x", now=T0))


def test_stale_message_is_audited_as_replay_dropped(store: KeyStore, sender: Sender) -> None:
    sink = MemorySink()
    verifier = MessageVerifier(store, audit=AuditLog(sink, clock=None))
    with pytest.raises(ProtocolError):
        verifier.verify(sender.sign(1, ts=T0_MS - 300_001), TOPIC, now=T0)
    (record,) = sink.records
    assert record["event"] == AuditEvent.REPLAY_DROPPED.value
    assert record["detail"] == {"context": "pubsub", "seq": 1, "topic": TOPIC, "reason": "stale"}


# -- replay window --------------------------------------------------------------------


def test_duplicate_is_replay(verifier: MessageVerifier, sender: Sender) -> None:
    message = sender.sign(3)
    verifier.verify(message, TOPIC, now=T0)
    expect_alert(Alert.REPLAY_DETECTED, lambda: verifier.verify(message, TOPIC, now=T0))


def test_reordered_qos1_deliveries_are_accepted_once_each(
    verifier: MessageVerifier, sender: Sender
) -> None:
    messages = {seq: sender.sign(seq) for seq in range(1, 6)}
    accepted = [verifier.verify(messages[seq], TOPIC, now=T0).seq for seq in (3, 1, 2, 5, 4)]
    assert accepted == [3, 1, 2, 5, 4]
    for seq in (2, 5):  # redeliveries
        with pytest.raises(ProtocolError) as info:
            verifier.verify(messages[seq], TOPIC, now=T0)
        assert info.value.alert is Alert.REPLAY_DETECTED


def test_too_old_for_the_window(store: KeyStore, sender: Sender) -> None:
    verifier = MessageVerifier(store, window=64)
    verifier.verify(sender.sign(100), TOPIC, now=T0)
    assert (
        verifier.verify(sender.sign(37), TOPIC, now=T0).seq == 37
    )  # 100 - 63: last slot in the window
    error = expect_alert(
        Alert.REPLAY_DETECTED, lambda: verifier.verify(sender.sign(36), TOPIC, now=T0)
    )
    assert "older than the replay window" in error.detail


def test_windows_are_per_sender_and_topic(store: KeyStore, sender: Sender) -> None:
    other = Sender(xi=b"\x07" * 32, kid=b"\x09" * 8, subject="other")
    store.add(other.credential)
    verifier = MessageVerifier(store)
    verifier.verify(sender.sign(1), TOPIC, now=T0)
    verifier.verify(sender.sign(1, topic="plant/line1/pressure"), "plant/line1/pressure", now=T0)
    verifier.verify(other.sign(1), TOPIC, now=T0)


def test_replay_window_unit() -> None:
    window = ReplayWindow(4)
    for seq in (10, 8, 7):
        window.accept(seq)
    assert window.check(10) and window.check(8) and window.check(6)  # 6 = 10 - 4: outside
    assert window.check(9) is None
    window.accept(2**64 - 1)  # a huge jump resets the window without a huge bitmap
    assert window.check(2**64 - 1) and window.check(2**64 - 2) is None


# -- encrypted variant ---------------------------------------------------------------


def test_encrypted_round_trip_and_wire_layout(store: KeyStore, sender: Sender) -> None:
    message = sender.sign(9, content=b"secret reading", group_key=GROUP, rng=ShakeRng(b"iv"))
    assert b"secret reading" not in message
    # Check the COSE_Encrypt0 independently: AES-256-GCM over the hand-built Enc_structure.
    protected, unprotected, ciphertext = parts(parts(parts(message)[2])[2])
    assert protected == bytes.fromhex("a10103")
    iv = ShakeRng(b"iv")(12)
    assert unprotected == {4: b"g1", 5: iv}
    enc_structure = bytes.fromhex("8368456e63727970743043a101035825") + EXTERNAL_AAD
    assert AESGCM(GROUP.key).decrypt(iv, ciphertext, enc_structure) == b"secret reading"

    verifier = MessageVerifier(store, group_keys={GROUP.kid: GROUP.key})
    result = verifier.verify(message, TOPIC, now=T0)
    assert result.content == b"secret reading" and result.group_kid == b"g1"


def test_subscriber_without_group_key_still_checks_origin(
    verifier: MessageVerifier, sender: Sender
) -> None:
    result = verifier.verify(sender.sign(9, content=b"x", group_key=GROUP), TOPIC, now=T0)
    assert parts(result.content)[0] == bytes.fromhex("a10103")


def test_wrong_group_key_is_decrypt_failed_and_unknown_is_unknown_credential(
    store: KeyStore, sender: Sender
) -> None:
    """§8.3 step 10: group_kid unknown -> unknown_credential; decryption fails -> decrypt_failed."""
    message = sender.sign(9, content=b"x", group_key=GROUP)
    wrong = MessageVerifier(store, group_keys={b"g1": b"\x00" * 32})
    expect_alert(Alert.DECRYPT_FAILED, lambda: wrong.verify(message, TOPIC, now=T0))
    unknown = MessageVerifier(store, group_keys={b"g2": GROUP.key})
    expect_alert(Alert.UNKNOWN_CREDENTIAL, lambda: unknown.verify(message, TOPIC, now=T0))
    # §8.3 step 9 (window update) comes before step 10: the signed seq 9 is used up.
    wrong.add_group_key(GROUP)
    error = expect_alert(Alert.REPLAY_DETECTED, lambda: wrong.verify(message, TOPIC, now=T0))
    assert "already received" in error.detail
    assert (
        wrong.verify(sender.sign(10, content=b"y", group_key=GROUP), TOPIC, now=T0).content == b"y"
    )


def test_signed_garbage_ciphertext_is_decrypt_failed(store: KeyStore, sender: Sender) -> None:
    bogus = cbor.encode([bytes.fromhex("a10103"), {4: b"g1", 5: bytes(12)}, b"\x00" * 20])
    verifier = MessageVerifier(store, group_keys={GROUP.kid: GROUP.key})
    expect_alert(
        Alert.DECRYPT_FAILED, lambda: verifier.verify(sender.sign(1, content=bogus), TOPIC, now=T0)
    )


def test_content_with_another_protected_header_is_not_a_group_encrypt0(
    store: KeyStore, sender: Sender
) -> None:
    """§8.1 fixes GroupEncrypt0's protected header to << {1: 3} >>; anything else is decode_error."""
    other = cbor.encode([cbor.encode({1: 1}), {4: GROUP.kid, 5: bytes(12)}, b"\x00" * 20])
    verifier = MessageVerifier(store, group_keys={GROUP.kid: GROUP.key})
    with pytest.raises(DecodeError):
        verifier.verify(sender.sign(1, content=other), TOPIC, now=T0)


def test_plaintext_on_an_encrypted_subscription_is_refused(store: KeyStore, sender: Sender) -> None:
    verifier = MessageVerifier(store, group_keys={GROUP.kid: GROUP.key})
    with pytest.raises(DecodeError):
        verifier.verify(sender.sign(1, content=b"plain"), TOPIC, now=T0)


def test_encrypted_message_is_bound_to_its_topic(store: KeyStore, sender: Sender) -> None:
    verifier = MessageVerifier(store, group_keys={GROUP.kid: GROUP.key})
    message = sender.sign(1, content=b"x", group_key=GROUP)
    expect_alert(
        Alert.AUTHENTICATION_FAILED, lambda: verifier.verify(message, "plant/other", now=T0)
    )


# -- audit -------------------------------------------------------------------------------


def test_failures_are_audited(store: KeyStore, sender: Sender) -> None:
    sink = MemorySink()
    verifier = MessageVerifier(store, audit=AuditLog(sink, clock=None))
    message = sender.sign(1)
    verifier.verify(message, TOPIC, now=T0)
    with pytest.raises(ProtocolError):
        verifier.verify(message, TOPIC, now=T0)
    with pytest.raises(ProtocolError):
        verifier.verify(message, "elsewhere", now=T0)
    replay, auth = sink.records
    assert replay["event"] == AuditEvent.REPLAY_DROPPED.value and replay["peer"] == KID.hex()
    assert replay["detail"] == {"context": "pubsub", "seq": 1, "topic": TOPIC, "reason": "window"}
    assert auth["event"] == AuditEvent.AUTH_FAILED.value and auth["peer"] == KID.hex()
    assert auth["detail"] == {
        "alert": "authentication_failed",
        "stage": "pubsub",
        "topic": "elsewhere",
    }
    assert auth["ts"] == "2026-01-01T00:00:00.000Z"


def test_unknown_kid_is_audited_as_auth_failed(sender: Sender) -> None:
    """§8.3 step 4: unknown_credential, audit auth_failed (stage pubsub, §9.2)."""
    sink = MemorySink()
    verifier = MessageVerifier(KeyStore(), audit=AuditLog(sink, clock=None))
    expect_alert(Alert.UNKNOWN_CREDENTIAL, lambda: verifier.verify(sender.sign(1), TOPIC, now=T0))
    (record,) = sink.records
    assert record["event"] == "auth_failed" and record["peer"] == KID.hex()
    assert record["detail"] == {"alert": "unknown_credential", "stage": "pubsub", "topic": TOPIC}


def test_malformed_message_is_dropped_without_an_audit_event(store: KeyStore) -> None:
    """§10.2: decode_error of a dropped pub/sub message has no audit event."""
    sink = MemorySink()
    verifier = MessageVerifier(store, audit=AuditLog(sink, clock=None))
    expect_alert(Alert.DECODE_ERROR, lambda: verifier.verify(b"\x80", TOPIC, now=T0))
    assert sink.records == []


def test_decrypt_failure_is_audited_with_context_pubsub(store: KeyStore, sender: Sender) -> None:
    sink = MemorySink()
    verifier = MessageVerifier(
        store, group_keys={b"g1": b"\x00" * 32}, audit=AuditLog(sink, clock=None)
    )
    message = sender.sign(1, content=b"x", group_key=GROUP)
    expect_alert(Alert.DECRYPT_FAILED, lambda: verifier.verify(message, TOPIC, now=T0))
    (record,) = sink.records
    assert record["event"] == "decrypt_failed"
    assert record["detail"] == {"context": "pubsub", "topic": TOPIC}


# -- window capacity (REQ-PUBSUB-011) and clock configuration (REQ-PUBSUB-012) -------------


def test_new_pair_beyond_the_window_capacity_is_dropped_and_audited(
    store: KeyStore, sender: Sender
) -> None:
    """REQ-PUBSUB-011: no window for a new (kid, topic) -> drop + limit_exceeded; no eviction."""
    sink = MemorySink()
    verifier = MessageVerifier(store, audit=AuditLog(sink, clock=None), max_windows=3)
    for i in range(3):
        verifier.verify(sender.sign(5, topic=f"plant/{i}"), f"plant/{i}", now=T0)
    error = expect_alert(
        Alert.USAGE_LIMIT_REACHED,
        lambda: verifier.verify(sender.sign(5, topic="plant/3"), "plant/3", now=T0),
    )
    assert error.requirement == "REQ-PUBSUB-011"
    (record,) = sink.records
    assert record["event"] == "limit_exceeded"
    assert record["detail"] == {"limit": "pubsub_windows", "value": 3}
    for i in range(3):  # every existing window still rejects its replay
        expect_alert(
            Alert.REPLAY_DETECTED,
            lambda i=i: verifier.verify(sender.sign(5, topic=f"plant/{i}"), f"plant/{i}", now=T0),  # type: ignore[misc]
        )


def test_default_window_capacity_is_64(store: KeyStore) -> None:
    assert MessageVerifier(store).max_windows == 64


def test_timestamp_check_disabled_only_by_configuration(store: KeyStore, sender: Sender) -> None:
    """REQ-PUBSUB-012: skew_s None (no trustworthy clock) skips step 8; the default checks."""
    message = sender.sign(1, ts=0)
    expect_alert(Alert.REPLAY_DETECTED, lambda: MessageVerifier(store).verify(message, TOPIC, T0))
    assert MessageVerifier(store, skew_s=None).verify(message, TOPIC, now=T0).timestamp_ms == 0


@pytest.mark.parametrize("skew_s", [0, 86401, -1])
def test_skew_outside_1_to_86400_seconds_is_refused(store: KeyStore, skew_s: int) -> None:
    with pytest.raises(ValueError, match="REQ-PUBSUB-012"):
        MessageVerifier(store, skew_s=skew_s)


def test_window_smaller_than_64_is_refused(store: KeyStore) -> None:
    with pytest.raises(ValueError, match="REQ-PUBSUB-009"):
        MessageVerifier(store, window=32)


def test_topic_that_is_not_utf8_is_a_decode_error_without_audit(
    store: KeyStore, sender: Sender
) -> None:
    """§8.3 step 3 fails with decode_error, which §10.2 does not audit for a dropped message."""
    sink = MemorySink()
    verifier = MessageVerifier(store, audit=AuditLog(sink, clock=None))
    with pytest.raises(DecodeError):
        verifier.verify(sender.sign(1), "\ud800", now=T0)
    assert sink.records == []


@pytest.mark.parametrize("topic", ["A" * 200, "bad\ttopic"])
def test_hostile_topics_never_break_auditing(store: KeyStore, sender: Sender, topic: str) -> None:
    """A topic the audit vetting refuses is logged as a fingerprint; verify still raises ProtocolError."""
    sink = MemorySink()
    verifier = MessageVerifier(store, audit=AuditLog(sink, clock=None))
    with pytest.raises(ProtocolError):
        verifier.verify(sender.sign(1), topic, now=T0)
    [record] = sink.records
    assert record["detail"]["topic"] is None  # type: ignore[index]
    assert str(record["detail"]["topic_fingerprint"]).startswith("sha256:")  # type: ignore[index]


# -- topics -------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["a", "/", "a/b/c", "a//b", "ä/€", "x" * 65535, "$SYS/x"])
def test_valid_publish_topics(topic: str) -> None:
    assert validate_topic(topic) == topic.encode("utf-8")


@pytest.mark.parametrize(
    "topic", ["", "a/+", "a/#", "#", "a\x00b", "x" * 65536, "€" * 21846, "\ud800"]
)
def test_invalid_publish_topics(topic: str) -> None:
    with pytest.raises(TopicError):
        validate_topic(topic)


@pytest.mark.parametrize(
    ("topic", "ok"),
    [
        ("a/+/c", True),
        ("#", True),
        ("a/#", True),
        ("a/#/c", False),
        ("a/b#", False),
        ("a+/b", False),
    ],
)
def test_topic_filters(topic: str, ok: bool) -> None:
    if ok:
        validate_topic(topic, publish=False)
    else:
        with pytest.raises(TopicError):
            validate_topic(topic, publish=False)


def test_sign_rejects_wildcards_and_bad_numbers(sender: Sender) -> None:
    with pytest.raises(TopicError):
        sender.sign(1, topic="plant/+/temp")
    with pytest.raises(ValueError, match="seq"):
        sender.sign(-1)
    with pytest.raises(ValueError, match="timestamp_ms"):
        sender.sign(1, ts=2**64)


def test_verify_with_invalid_topic_is_decode_error(
    verifier: MessageVerifier, sender: Sender
) -> None:
    with pytest.raises(DecodeError):
        verifier.verify(sender.sign(1), "plant/#", now=T0)


# -- Falcon-512 (stored test identity: no slow keygen) --------------------------------


@pytest.fixture(scope="module")
def falcon_identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    directory = tmp_path_factory.mktemp("falcon")
    for ext in ("key", "cred"):
        (directory / f"falcon512-test.{ext}").write_bytes(
            (DATA / f"falcon512-test.{ext}").read_bytes()
        )
    os.chmod(directory / "falcon512-test.key", 0o600)
    return load_identity(directory, "falcon512-test", check=False)


def test_falcon512_signed_message(falcon_identity: Identity) -> None:
    store = KeyStore()
    store.add(falcon_identity.credential)
    with SoftwareSecurityProvider() as provider:
        ref = falcon_identity.install(provider)
        message = sign_message(provider, ref, falcon_identity.kid, TOPIC, 1, T0_MS, b"hi")
    assert len(parts(message)[3]) == 666
    assert MessageVerifier(store).verify(message, TOPIC, now=T0).content == b"hi"
    expect_alert(
        Alert.AUTHENTICATION_FAILED, lambda: MessageVerifier(store).verify(message, "other", now=T0)
    )
