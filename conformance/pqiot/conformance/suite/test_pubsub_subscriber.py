"""Signed pub/sub, subscriber side (spec chapter 8 §8.3), through TAP SUBSCRIBE_DELIVER (91).

The tester plays the publisher with the reference (:func:`pqiot.reference.pubsub.sign_message`
for well-formed messages, the same COSE building blocks for crafted ones), loads the
publisher's credential into the device as a peer credential and hands it messages as a
binding would deliver them: ``topic`` is the topic the message arrived on, ``now_ms`` the
subscriber's current time. Every refused message must come back as status 7 without
``content``; on a device that lists AUDIT_READ (97) the audit event §8.3 names for the
failing step must have been emitted as well (§9.2: ``auth_failed`` stage ``pubsub``,
``replay_dropped`` context ``pubsub``, ``limit_exceeded`` limit ``pubsub_windows``).

Why ``now_ms`` is always given: a DUT declaring ``no-clock`` has no time of its own, and the
skew check (step 8) is only deterministic against a known clock. Messages carry the
tester's wall-clock time, so a DUT that used a clock of its own would see them as fresh too.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pqiot.conformance.conversation import expect_alert, expect_status
from pqiot.conformance.device import Device
from pqiot.hil.client import StatusError
from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.cose import sig_structure1
from pqiot.reference.credentials import Credential, akp_ccs, parse_ccs
from pqiot.reference.crypto import registry
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.identity import generate_identity
from pqiot.reference.pubsub import external_aad, sign_message
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.tap.codes import Command, Status
from pqiot.reference.trust import kid_bytes
from pqiot.vectors.catalog import DATA_DIR

#: §8.1's example topic, and a second one for the per-topic rules.
TOPIC = "plant1/pqiot/v1/ps/line3/temp"
OTHER_TOPIC = "plant1/pqiot/v1/ps/line3/pressure"
#: REQ-PUBSUB-012 default skew, REQ-PUBSUB-009 default window, REQ-PUBSUB-011 default capacity.
SKEW_MS = 300_000
WINDOW = 64
CAPACITY = 64
#: Upper bound of new (kid, topic) pairs tried when looking for a larger capacity.
MAX_PAIRS_TRIED = 4 * CAPACITY
#: REQ-PUBSUB-014: the publisher signature algorithms and their IDENTIFY primitive names.
PUBLISHER_ALGS = {
    -48: "ml-dsa-44",
    -49: "ml-dsa-65",
    -50: "ml-dsa-87",
    -65601: "falcon-512",
    -65602: "falcon-1024",
}
_FALCON_SIGNATURE = {-65601: (0x39, 666), -65602: (0x3A, 1280)}
_FALCON_PUBLIC_KEY_HEADER = {-65601: 0x09, -65602: 0x0A}
NOT_SUBSCRIBER = "not applicable: role subscriber not declared"


# -- publishers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Publisher:
    """A publisher identity: credential (loaded into the DUT) and private key (the tester's)."""

    credential: Credential
    private_key: bytes

    @property
    def kid(self) -> bytes:
        return kid_bytes(self.credential.kid)

    @property
    def alg(self) -> int:
        return self.credential.algorithm

    def publish(self, topic: str, seq: int, timestamp_ms: int, content: bytes) -> bytes:
        """A message exactly as the reference publisher builds it (REQ-PUBSUB-001)."""
        provider = SoftwareSecurityProvider()
        key = provider.add_signature_key(
            "publisher", self.alg, self.private_key, self.credential.public_key
        )
        return sign_message(provider, key, self.kid, topic, seq, timestamp_ms, content)

    def craft(
        self,
        signed_topic: str,
        payload: CborValue,
        *,
        header: CborValue | None = None,
        unprotected: CborValue | None = None,
    ) -> bytes:
        """A COSE_Sign1 with a valid signature over whatever parts it is given.

        The signature is correct for ``signed_topic`` and the exact protected / payload
        bytes, so a message built here fails only where the caller made it wrong.
        """
        protected = cbor.encode({1: self.alg, 4: self.kid} if header is None else header)
        body = cbor.encode(payload)
        signature = registry.signature(self.alg).sign(
            self.private_key, sig_structure1(protected, external_aad(signed_topic), body)
        )
        return cbor.encode([protected, {} if unprotected is None else unprotected, body, signature])


@cache
def vector_publisher(alg: int) -> Publisher:
    """The publisher of the committed pub/sub vectors for ``alg`` (no key generation)."""
    document = json.loads(Path(DATA_DIR, "pubsub.json").read_text(encoding="utf-8"))
    for record in document["records"]:
        if record["id"] == f"alg{alg}/signed":
            inputs = record["inputs"]
            return Publisher(
                parse_ccs(bytes.fromhex(inputs["credential"])),
                bytes.fromhex(inputs["private_key"]),
            )
    raise LookupError(f"pubsub.json has no signed record for alg {alg}")


@cache
def extra_publisher(kid: bytes, alg: int = -48) -> Publisher:
    """Another publisher under ``kid`` (deterministic; ML-DSA-44 is cheap to generate)."""
    identity = generate_identity(
        alg,
        subject=f"publisher-{kid.hex()}.conformance.pqiot",
        kid=kid,
        rng=ShakeRng(b"pqiot conformance publisher " + kid + alg.to_bytes(4, "big", signed=True)),
    )
    return Publisher(identity.credential, identity.private_key)


def now_ms() -> int:
    return int(time.time() * 1000)


# -- the device as a subscriber ----------------------------------------------------------


@pytest.fixture
def subscriber(device: Device) -> Device:
    if "subscriber" not in device.statement.roles:
        pytest.skip(NOT_SUBSCRIBER)
    if not device.declares("commands", int(Command.SUBSCRIBE_DELIVER)):
        pytest.fail("REQ-TAP-008: role subscriber declared without SUBSCRIBE_DELIVER (91)")
    return device


def subscribe(device: Device, *publishers: Publisher) -> None:
    """RESET "all" (no windows, empty audit buffer), then allow-list the publishers."""
    device.client.reset("all")
    for publisher in publishers:
        kid = device.client.cred_load("peer", ccs=publisher.credential.cred)
        assert kid == publisher.kid, (
            f"CRED_LOAD answered kid {kid.hex()}, not {publisher.kid.hex()}"
        )


def deliver(device: Device, topic: str, msg: bytes, now: int) -> dict[str, CborValue]:
    """SUBSCRIBE_DELIVER that must succeed; returns the delivered message."""
    try:
        return device.client.subscribe_deliver(topic, msg, now_ms=now)
    except StatusError as exc:
        raise AssertionError(
            f"a valid message on {topic!r} was refused: status {exc.status}, "
            f"{exc.result.get('alert')!r} ({exc.result.get('detail')!r})"
        ) from None


def accepted(
    device: Device,
    publisher: Publisher,
    topic: str,
    seq: int,
    now: int,
    content: bytes,
    *,
    timestamp_ms: int | None = None,
) -> None:
    """Publish (reference) and deliver; the device must hand over exactly what was sent."""
    stamp = now if timestamp_ms is None else timestamp_ms
    msg = publisher.publish(topic, seq, stamp, content)
    got = deliver(device, topic, msg, now)
    expected = {"kid": publisher.kid, "seq": seq, "timestamp_ms": stamp, "content": content}
    assert {k: got.get(k) for k in expected} == expected, (
        f"delivered {got!r}, sent {expected!r} (§8.3 step 11)"
    )


def refused(
    device: Device, topic: str, msg: bytes, now: int | None, alert: str, what: str
) -> dict[str, Any]:
    """The message must be dropped with ``alert`` and no content (REQ-PUBSUB-007)."""
    result = expect_alert(
        lambda: device.client.subscribe_deliver(topic, msg, now_ms=now), {alert}, what
    )
    assert "content" not in result, f"{what}: content delivered with the alert: {result!r}"
    return result


# -- audit (§8.3 "audit as stated", §9.2) ----------------------------------------------


def audit_events(device: Device) -> list[dict[str, Any]] | None:
    """The events buffered since the last read (None when AUDIT_READ is not listed)."""
    if not device.declares("commands", int(Command.AUDIT_READ)):
        return None
    read = device.client.audit_read_all()
    assert not read.more, "AUDIT_READ kept answering more = true"
    return [json.loads(line) for line in read.events]


#: §9.2 events a pub/sub failure can produce.
PUBSUB_EVENTS = ("auth_failed", "replay_dropped", "limit_exceeded", "decrypt_failed")


def expect_audit(
    device: Device, event: str | None, what: str, **fields: object
) -> list[dict[str, Any]] | str:
    """The pub/sub events since the last read must be exactly one ``event`` with ``fields``.

    ``event`` None: nothing failed, so no pub/sub failure event may appear. Returns the
    events, or why they could not be read.
    """
    events = audit_events(device)
    if events is None:
        return "not exposed (no AUDIT_READ)"
    ours = [e for e in events if e.get("event") in PUBSUB_EVENTS]
    if event is None:
        assert not ours, f"{what}: §8.3 audits nothing for this step, got {ours!r}"
        return events
    assert len(ours) == 1 and ours[0].get("event") == event, (
        f"{what}: §8.3 requires exactly one {event} event, got {ours!r}"
    )
    detail = ours[0].get("detail") or {}
    wrong = {k: detail.get(k) for k, v in fields.items() if detail.get(k) != v}
    assert not wrong, f"{what}: {event} detail {wrong!r}, expected {fields!r}: {ours[0]!r}"
    return events


def auth_failed(alert: str, kid: bytes) -> dict[str, object]:
    return {"event": "auth_failed", "alert": alert, "stage": "pubsub", "peer": kid.hex()}


def replay_dropped(seq: int, topic: str, reason: str, kid: bytes) -> dict[str, object]:
    return {
        "event": "replay_dropped",
        "context": "pubsub",
        "seq": seq,
        "topic": topic,
        "reason": reason,
        "peer": kid.hex(),
    }


def check_audit(device: Device, expected: dict[str, object] | None, what: str) -> object:
    """``expected`` None: §8.3 states no event for the step (decode_error, §10.2): drain."""
    if expected is None:
        return audit_events(device)
    fields = dict(expected)
    event = str(fields.pop("event"))
    peer = fields.pop("peer", None)
    events = expect_audit(device, event, what, **fields)
    if isinstance(events, list) and peer is not None:
        ours = [e for e in events if e.get("event") == event]
        assert ours[0].get("peer") == peer, (
            f"{what}: audit peer {ours[0].get('peer')!r}, not {peer}"
        )
    return events


# -- REQ-PUBSUB-007: the steps of §8.3, one failing at a time -----------------------------


@dataclass(frozen=True)
class Case:
    """One message that fails exactly the step named by ``alert`` (or two steps: the first)."""

    name: str
    topic: str  # delivered on
    msg: bytes
    alert: str
    audit: dict[str, object] | None
    seq: int | None = None  # a valid message with this seq must still be accepted afterwards
    stale: bool = False


def single_step_cases(pub: Publisher, stranger: Publisher, now: int) -> list[Case]:
    """Messages each breaking one §8.3 step; seq 100.. are fresh, seq 1 is already accepted."""
    valid_header: dict[CborValue, CborValue] = {1: pub.alg, 4: pub.kid}
    other_alg = -49 if pub.alg != -49 else -48
    good = pub.publish(TOPIC, 101, now, b"tampered")
    sig = _signature(good)
    bad_signature = _with_signature(good, sig[:-1] + bytes([sig[-1] ^ 0x01]))
    auth = auth_failed("authentication_failed", pub.kid)
    return [
        Case("decode: not an array", TOPIC, cbor.encode({"seq": 100}), "decode_error", None),
        Case(
            "decode: unprotected header not empty",
            TOPIC,
            pub.craft(TOPIC, [102, now, b"x"], unprotected={4: pub.kid}),
            "decode_error",
            None,
            102,
        ),
        Case(
            "decode: protected header with a third label",
            TOPIC,
            pub.craft(TOPIC, [103, now, b"x"], header={**valid_header, 3: 0}),
            "decode_error",
            None,
            103,
        ),
        Case(
            "decode: payload of two elements",
            TOPIC,
            pub.craft(TOPIC, [104, now]),
            "decode_error",
            None,
            104,
        ),
        Case(
            "decode: negative seq", TOPIC, pub.craft(TOPIC, [-1, now, b"x"]), "decode_error", None
        ),
        Case(
            "decode: content not a bstr",
            TOPIC,
            pub.craft(TOPIC, [105, now, "text"]),
            "decode_error",
            None,
            105,
        ),
        Case(
            "decode: trailing byte after the COSE_Sign1",
            TOPIC,
            pub.publish(TOPIC, 106, now, b"x") + b"\x00",
            "decode_error",
            None,
            106,
        ),
        Case(
            "topic: wildcard in the topic name",
            "plant1/+/temp",
            pub.craft("plant1/+/temp", [1, now, b"x"]),
            "decode_error",
            None,
        ),
        Case(
            "kid: not in the KeyStore",
            TOPIC,
            stranger.publish(TOPIC, 107, now, b"x"),
            "unknown_credential",
            auth_failed("unknown_credential", stranger.kid),
            107,
        ),
        Case(
            "alg: differs from the credential's",
            TOPIC,
            pub.craft(TOPIC, [108, now, b"x"], header={1: other_alg, 4: pub.kid}),
            "authentication_failed",
            auth,
            108,
        ),
        Case(
            "signature: one bit flipped", TOPIC, bad_signature, "authentication_failed", auth, 101
        ),
        Case(
            "signature: made for another topic (REQ-PUBSUB-008)",
            TOPIC,
            pub.publish(OTHER_TOPIC, 109, now, b"x"),
            "authentication_failed",
            auth,
            109,
        ),
        Case(
            "replay: seq 1 again",
            TOPIC,
            pub.publish(TOPIC, 1, now, b"again"),
            "replay_detected",
            replay_dropped(1, TOPIC, "window", pub.kid),
        ),
        Case(
            "timestamp: one millisecond beyond the skew",
            TOPIC,
            pub.publish(TOPIC, 110, now - SKEW_MS - 1, b"x"),
            "replay_detected",
            replay_dropped(110, TOPIC, "stale", pub.kid),
            110,
            stale=True,
        ),
    ]


def double_step_cases(pub: Publisher, stranger: Publisher, now: int) -> list[Case]:
    """Messages breaking two steps: the earlier step's alert must win (REQ-ERR-008)."""
    old = now - SKEW_MS - 1
    other_alg = -49 if pub.alg != -49 else -48
    replayed = pub.publish(TOPIC, 1, now, b"x")
    sig = _signature(replayed)
    replayed_bad_sig = _with_signature(replayed, bytes([sig[0] ^ 0x01]) + sig[1:])
    auth = auth_failed("authentication_failed", pub.kid)
    return [
        Case(
            "decode (2) before unknown kid (4)",
            TOPIC,
            stranger.craft(TOPIC, [200, now]),
            "decode_error",
            None,
        ),
        Case(
            "topic (3) before unknown kid (4)",
            "plant1/#",
            stranger.craft("plant1/#", [201, now, b"x"]),
            "decode_error",
            None,
        ),
        Case(
            "unknown kid (4) before bad signature (6)",
            TOPIC,
            stranger.publish(OTHER_TOPIC, 202, now, b"x"),
            "unknown_credential",
            auth_failed("unknown_credential", stranger.kid),
        ),
        Case(
            "alg (5) before stale timestamp (8)",
            TOPIC,
            pub.craft(TOPIC, [203, old, b"x"], header={1: other_alg, 4: pub.kid}),
            "authentication_failed",
            auth,
            203,
        ),
        Case(
            "bad signature (6) before replay (7)",
            TOPIC,
            replayed_bad_sig,
            "authentication_failed",
            auth,
        ),
        Case(
            "other topic (6) before replay (7)",
            TOPIC,
            pub.publish(OTHER_TOPIC, 1, now, b"x"),
            "authentication_failed",
            auth,
        ),
        Case(
            "other topic (6) before stale timestamp (8)",
            TOPIC,
            pub.publish(OTHER_TOPIC, 204, old, b"x"),
            "authentication_failed",
            auth,
            204,
        ),
        Case(
            "replay (7) before stale timestamp (8)",
            TOPIC,
            pub.publish(TOPIC, 1, old, b"x"),
            "replay_detected",
            replay_dropped(1, TOPIC, "window", pub.kid),
        ),
    ]


def run_cases(
    device: Device, pub: Publisher, cases: list[Case], now: int, evidence: dict[str, Any]
) -> None:
    """Deliver each case after seq 1 was accepted; check alert, audit and the window after."""
    subscribe(device, pub)
    accepted(device, pub, TOPIC, 1, now, b"first")
    audit_events(device)  # drain
    seen: dict[str, Any] = {}
    for case in cases:
        result = refused(device, case.topic, case.msg, now, case.alert, case.name)
        if case.stale:
            assert "stale" in str(result.get("detail")), (
                f'{case.name}: §8.3 step 8 gives replay_detected the detail "stale", '
                f"got {result.get('detail')!r}"
            )
        elif case.alert == "replay_detected":
            assert result.get("detail") != "stale", f"{case.name}: step 7, not step 8 (stale)"
        check_audit(device, case.audit, case.name)
        if case.seq is not None:
            # The failed message must not have moved the window (step 9 comes after it).
            accepted(device, pub, TOPIC, case.seq, now, b"after " + case.name.encode())
            audit_events(device)
        seen[case.name] = {"alert": result.get("alert"), "detail": result.get("detail")}
    evidence["cases"] = seen
    evidence["audit"] = audit_events(device) is not None


@pytest.mark.requirement("REQ-PUBSUB-007")
def test_valid_message_is_delivered_with_its_fields(
    subscriber: Device, evidence: dict[str, Any]
) -> None:
    """§8.3 step 11: kid, seq, timestamp_ms and content reach the application unchanged."""
    pub = vector_publisher(-48)
    now = now_ms()
    subscribe(subscriber, pub)
    accepted(subscriber, pub, TOPIC, 0, now, b"21.5 C")
    accepted(subscriber, pub, TOPIC, 1, now, b"")
    evidence["audit"] = expect_audit(subscriber, None, "valid messages")


@pytest.mark.requirement("REQ-PUBSUB-007", "REQ-PUBSUB-008")
@pytest.mark.conversation
def test_each_failing_step_drops_the_message_with_its_alert(
    subscriber: Device, evidence: dict[str, Any]
) -> None:
    """REQ-PUBSUB-007: every step of §8.3 failing alone gives that step's alert, no content,
    the audit event §8.3 states, and leaves the replay window as it was."""
    now = now_ms()
    pub = vector_publisher(-48)
    run_cases(subscriber, pub, single_step_cases(pub, extra_publisher(b"\x7e"), now), now, evidence)


@pytest.mark.requirement("REQ-PUBSUB-007", "REQ-ERR-008")
@pytest.mark.conversation
def test_two_failing_steps_report_the_earlier_one(
    subscriber: Device, evidence: dict[str, Any]
) -> None:
    """REQ-PUBSUB-007 / REQ-ERR-008: the steps run in §8.3's order, the first failure wins."""
    now = now_ms()
    pub = vector_publisher(-48)
    run_cases(subscriber, pub, double_step_cases(pub, extra_publisher(b"\x7e"), now), now, evidence)


# -- REQ-PUBSUB-008: external_aad from the topic the message arrived on ------------------


@pytest.mark.requirement("REQ-PUBSUB-008")
@pytest.mark.conversation
def test_message_republished_on_another_topic_fails_verification(
    subscriber: Device, evidence: dict[str, Any]
) -> None:
    """REQ-PUBSUB-008: the same bytes verify on their own topic and on no other."""
    pub = vector_publisher(-48)
    now = now_ms()
    subscribe(subscriber, pub)
    msg = pub.publish(TOPIC, 5, now, b"only for temp")
    for topic in (OTHER_TOPIC, TOPIC + "/", TOPIC.upper(), "plant2/pqiot/v1/ps/line3/temp"):
        refused(subscriber, topic, msg, now, "authentication_failed", f"delivered on {topic!r}")
        check_audit(subscriber, auth_failed("authentication_failed", pub.kid), topic)
    assert deliver(subscriber, TOPIC, msg, now).get("content") == b"only for temp"
    # Same seq on the other topic, signed for it: a window of its own, so accepted.
    accepted(subscriber, pub, OTHER_TOPIC, 5, now, b"for pressure")
    evidence["topics_refused"] = 4


# -- REQ-PUBSUB-009: sliding window per (kid, topic) ------------------------------------


@pytest.mark.requirement("REQ-PUBSUB-009")
@pytest.mark.conversation
def test_replay_window_accepts_reordered_seqs_once(
    subscriber: Device, evidence: dict[str, Any]
) -> None:
    """REQ-PUBSUB-009 with REQ-REPLAY-002/003 on seq (default window 64)."""
    pub = vector_publisher(-48)
    now = now_ms()
    subscribe(subscriber, pub)
    # (seq, fresh): duplicates and reordering around top = 102, then a jump to 300.
    steps = [
        (100, True),
        (100, False),
        (90, True),
        (90, False),
        (102, True),
        (101, True),
        (101, False),
        (39, True),  # 102 - 39 = 63 < 64: the oldest seq inside the window
        (38, False),  # 102 - 38 = 64: older than the window
        (39, False),
        (300, True),  # a jump past the whole window
        (236, False),
        (237, True),
        (102, False),
        (301, True),
        (299, True),
        (298, True),
        (0, False),
    ]
    log: list[tuple[int, str]] = []
    for seq, fresh in steps:
        msg = pub.publish(TOPIC, seq, now, f"seq {seq}".encode())
        if fresh:
            assert deliver(subscriber, TOPIC, msg, now).get("seq") == seq
        else:
            refused(subscriber, TOPIC, msg, now, "replay_detected", f"seq {seq} after {log}")
            check_audit(subscriber, replay_dropped(seq, TOPIC, "window", pub.kid), f"seq {seq}")
        log.append((seq, "accepted" if fresh else "dropped"))
    evidence["sequence"] = log


@pytest.mark.requirement("REQ-PUBSUB-009")
@pytest.mark.conversation
def test_replay_windows_are_separate_per_kid_and_topic(
    subscriber: Device, evidence: dict[str, Any]
) -> None:
    """REQ-PUBSUB-009: one window per (publisher kid, topic); none shadows another."""
    first, second = vector_publisher(-48), extra_publisher(b"\x5b")
    now = now_ms()
    subscribe(subscriber, first, second)
    pairs = [(first, TOPIC), (first, OTHER_TOPIC), (second, TOPIC), (second, OTHER_TOPIC)]
    for pub, topic in pairs:
        accepted(subscriber, pub, topic, 500, now, b"top")
    for pub, topic in pairs:
        # 500 is in every window now; 499 in none of them.
        refused(
            subscriber,
            topic,
            pub.publish(topic, 500, now, b"dup"),
            now,
            "replay_detected",
            f"kid {pub.kid.hex()} topic {topic}: seq 500 again",
        )
        check_audit(subscriber, replay_dropped(500, topic, "window", pub.kid), topic)
        accepted(subscriber, pub, topic, 499, now, b"older")
    # Moving one window far ahead leaves the others where they were.
    accepted(subscriber, first, TOPIC, 10_000, now, b"far ahead")
    for pub, topic in pairs[1:]:
        accepted(subscriber, pub, topic, 498, now, b"still inside")
    evidence["pairs"] = [(p.kid.hex(), t) for p, t in pairs]


# -- REQ-PUBSUB-011: window capacity --------------------------------------------------


@pytest.mark.requirement("REQ-PUBSUB-011")
@pytest.mark.conversation
def test_full_window_table_drops_new_pairs_and_keeps_existing_windows(
    subscriber: Device, evidence: dict[str, Any]
) -> None:
    """REQ-PUBSUB-011: at least the default 64 (kid, topic) pairs get a window; a pair beyond
    the capacity is dropped with ``limit_exceeded`` and no existing window is evicted."""
    pub = vector_publisher(-48)
    now = now_ms()
    subscribe(subscriber, pub)

    def topic(i: int) -> str:
        return f"plant1/pqiot/v1/ps/cap/{i}"

    capacity = None
    for i in range(MAX_PAIRS_TRIED):
        msg = pub.publish(topic(i), 7, now, b"new pair")
        try:
            subscriber.client.subscribe_deliver(topic(i), msg, now_ms=now)
        except StatusError as exc:
            assert i >= CAPACITY, (
                f"new pair #{i + 1} refused ({exc.result.get('alert')!r}, "
                f"{exc.result.get('detail')!r}): the default capacity is {CAPACITY} pairs"
            )
            assert exc.status == Status.PROTOCOL_ALERT and "content" not in exc.result, (
                f"pair #{i + 1}: expected status 7 without content, got {exc.status} {exc.result}"
            )
            capacity = i
            evidence["alert"] = exc.result.get("alert")
            break
        audit_events(subscriber)  # keep the buffer for the event that matters
    if capacity is not None:
        events = expect_audit(
            subscriber, "limit_exceeded", "pair beyond capacity", limit="pubsub_windows"
        )
        evidence["audit"] = events if isinstance(events, str) else "limit_exceeded seen"
        # Still dropped later, with a higher seq.
        expect_status(
            lambda: subscriber.client.subscribe_deliver(
                topic(capacity), pub.publish(topic(capacity), 8, now, b"again"), now_ms=now
            ),
            {Status.PROTOCOL_ALERT},
            "a pair without a window, second message",
        )
        audit_events(subscriber)
    kept = [0, (capacity or MAX_PAIRS_TRIED) - 1]
    for i in kept:
        refused(
            subscriber,
            topic(i),
            pub.publish(topic(i), 7, now, b"dup"),
            now,
            "replay_detected",
            f"pair #{i + 1} after the table filled: window evicted?",
        )
        accepted(subscriber, pub, topic(i), 8, now, b"still tracked")
    evidence["capacity"] = capacity if capacity is not None else f">= {MAX_PAIRS_TRIED}"


# -- REQ-PUBSUB-012: timestamp skew --------------------------------------------------------


@pytest.mark.requirement("REQ-PUBSUB-012")
@pytest.mark.conversation
def test_timestamp_skew_is_300_seconds(subscriber: Device, evidence: dict[str, Any]) -> None:
    """REQ-PUBSUB-012: |now - timestamp_ms| <= 300 s passes step 8, one millisecond more is
    ``replay_detected`` "stale" (audit ``replay_dropped`` reason ``stale``) and does not
    advance the window. ``now_ms`` gives the subscriber its time, with or without a clock."""
    pub = vector_publisher(-48)
    now = now_ms()
    subscribe(subscriber, pub)
    for seq, offset in ((1, -SKEW_MS - 1), (2, SKEW_MS + 1), (3, -86_400_000)):
        result = refused(
            subscriber,
            TOPIC,
            pub.publish(TOPIC, seq, now + offset, b"x"),
            now,
            "replay_detected",
            f"timestamp now{offset:+d} ms",
        )
        assert "stale" in str(result.get("detail")), f"detail {result.get('detail')!r}"
        check_audit(subscriber, replay_dropped(seq, TOPIC, "stale", pub.kid), f"now{offset:+d}")
    for seq, offset in ((1, -SKEW_MS), (2, SKEW_MS), (3, 0)):
        accepted(subscriber, pub, TOPIC, seq, now, b"in time", timestamp_ms=now + offset)
    evidence["boundaries_ms"] = [-SKEW_MS, SKEW_MS]
    if "no-clock" in subscriber.statement.features:
        evidence["no_clock"] = "declared: the check without now_ms is disabled (§14.2)"
        return
    # A device with a clock checks against it when the binding gives no time.
    result = refused(
        subscriber,
        TOPIC,
        pub.publish(TOPIC, 4, 0, b"1970"),
        None,
        "replay_detected",
        "timestamp 0 without now_ms on a device with a clock",
    )
    assert "stale" in str(result.get("detail")), f"detail {result.get('detail')!r}"
    evidence["no_clock"] = "not declared: timestamp 0 refused as stale"


# -- REQ-PUBSUB-014: publisher credential algorithms ---------------------------------------


def _load(device: Device, credential: Credential) -> bytes | dict[str, Any]:
    """CRED_LOAD peer: the kid, or the refusal's result."""
    try:
        return device.client.cred_load("peer", ccs=credential.cred)
    except StatusError as exc:
        return {"status": exc.status, **dict(exc.result)}


def _signature(msg: bytes) -> bytes:
    item = cbor.decode(msg)
    assert isinstance(item, list) and isinstance(item[3], bytes)
    return item[3]


def _with_signature(msg: bytes, signature: bytes) -> bytes:
    """``msg`` with its signature replaced (everything else byte for byte the same)."""
    item = cbor.decode(msg)
    assert isinstance(item, list)
    item[3] = signature
    return cbor.encode(item)


@pytest.mark.requirement("REQ-PUBSUB-014", "REQ-SUITE-009", "REQ-SUITE-010")
@pytest.mark.conversation
def test_publisher_signature_algorithms_and_encodings(
    subscriber: Device, evidence: dict[str, Any]
) -> None:
    """REQ-PUBSUB-014: a publisher credential of a declared ML-DSA / Falcon primitive verifies
    messages; signatures of another length (REQ-SUITE-009/010) or, for Falcon, another
    header byte are ``authentication_failed``; a Falcon key with a wrong header is refused."""
    now = now_ms()
    results: dict[str, Any] = {}
    usable = 0
    for alg, name in PUBLISHER_ALGS.items():
        if not subscriber.declares("primitives", name):
            results[name] = "primitive not declared"
            continue
        pub = vector_publisher(alg)
        subscribe(subscriber)
        loaded = _load(subscriber, pub.credential)
        if not isinstance(loaded, bytes):
            assert loaded.get("status") in (Status.UNSUPPORTED, Status.TOO_LARGE), (
                f"{name} publisher credential refused with {loaded!r}"
            )
            results[name] = f"credential refused (status {loaded['status']}): not tested"
            continue
        usable += 1
        msg = pub.publish(TOPIC, 1, now, name.encode())
        signature = _signature(msg)
        variants = {
            "one byte short": _with_signature(msg, signature[:-1]),
            "one byte long": _with_signature(msg, signature + b"\x00"),
        }
        if alg in _FALCON_SIGNATURE:
            header, size = _FALCON_SIGNATURE[alg]
            assert len(signature) == size and signature[0] == header, "reference Falcon encoding"
            variants[f"header byte 0x{header - 0x10:02x} (unpadded encoding)"] = _with_signature(
                msg, bytes([header - 0x10]) + signature[1:]
            )
        for what, bad in variants.items():
            refused(subscriber, TOPIC, bad, now, "authentication_failed", f"{name}: {what}")
            check_audit(subscriber, auth_failed("authentication_failed", pub.kid), what)
        assert deliver(subscriber, TOPIC, msg, now).get("content") == name.encode()
        results[name] = {"delivered": True, "refused": sorted(variants)}
        if alg in _FALCON_PUBLIC_KEY_HEADER:
            results[name]["bad_public_key"] = _falcon_bad_key(subscriber, pub, now)
    assert usable, (
        f"no publisher credential of the declared primitives {PUBLISHER_ALGS} was accepted: "
        "a subscriber must verify at least one publisher algorithm"
    )
    evidence["algorithms"] = results


def _falcon_bad_key(device: Device, pub: Publisher, now: int) -> str:
    """REQ-SUITE-010: a Falcon public key with another header byte must not verify anything."""
    key = bytearray(pub.credential.public_key)
    key[0] ^= 0x03  # Falcon-512 <-> Falcon-1024 header (0x09 <-> 0x0a)
    credential = akp_ccs("falcon-bad-header.conformance.pqiot", b"\x6b", pub.alg, bytes(key))
    subscribe(device)
    loaded = _load(device, credential)
    if not isinstance(loaded, bytes):
        return f"CRED_LOAD refused (status {loaded['status']})"
    # Signed with the matching private key: only the key's header byte is wrong.
    msg = Publisher(credential, pub.private_key).craft(TOPIC, [1, now, b"x"])
    refused(
        device,
        TOPIC,
        msg,
        now,
        "authentication_failed",
        f"Falcon key with header byte 0x{key[0]:02x}",
    )
    return "loaded, its message refused with authentication_failed"


@pytest.mark.requirement("REQ-PUBSUB-014")
@pytest.mark.conversation
@pytest.mark.parametrize("alg", [-8, -7], ids=["EdDSA", "ES256"])
def test_classical_publisher_credential_is_not_usable(
    subscriber: Device, evidence: dict[str, Any], alg: int
) -> None:
    """REQ-PUBSUB-014: a publisher credential outside ML-DSA / Falcon (an Ed25519 OKP or a
    P-256 EC2 key) is refused at CRED_LOAD or verifies no message."""
    pub = extra_publisher(b"\x4c", alg)
    now = now_ms()
    subscribe(subscriber)
    loaded = _load(subscriber, pub.credential)
    if not isinstance(loaded, bytes):
        evidence["cred_load"] = f"refused (status {loaded['status']})"
        return
    msg = pub.publish(TOPIC, 1, now, b"classical")
    result = expect_alert(
        lambda: subscriber.client.subscribe_deliver(TOPIC, msg, now_ms=now),
        {"authentication_failed", "unknown_credential"},
        f"message signed with alg {alg}",
    )
    assert "content" not in result
    evidence["cred_load"] = "accepted"
    evidence["delivery"] = result.get("alert")
