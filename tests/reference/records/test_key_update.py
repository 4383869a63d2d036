"""Key update (D4): epochs, key_update / key_update_ack, reordering across the boundary."""

from __future__ import annotations

import hashlib

import pytest

from pqiot.reference.crypto import registry
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.errors import Alert, ProtocolError
from pqiot.reference.records.layer import Event, KeyUpdateCompleted, KeyUpdateStarted, RecordLayer
from pqiot.reference.records.persistence import MemorySequenceStore
from pqiot.reference.records.record import ContentType, decode_record

APP = ContentType.APPLICATION_DATA


def derive_next_epoch(nonce: bytes) -> tuple[bytes, bytes]:
    """Stand-in for the session's EDHOC_KeyUpdate + exporter: same on both sides, differs per nonce."""
    secret = hashlib.sha256(b"prk_out" + nonce).digest()
    return secret, hashlib.sha256(b"salt" + secret).digest()[:8]


def pair() -> tuple[RecordLayer, RecordLayer]:
    def make(sender: bytes, recipient: bytes) -> RecordLayer:
        return RecordLayer(
            aead=registry.aead(3),
            hkdf=registry.hash_algorithm(-16),
            master_secret=b"\x01" * 32,
            master_salt=b"\x02" * 8,
            sender_id=sender,
            recipient_id=recipient,
            store=MemorySequenceStore(),
            binding_context=b"plant/topic",
            derive_next_epoch=derive_next_epoch,
        )

    return make(b"\xaa", b"\xbb"), make(b"\xbb", b"\xaa")


def events(layer: RecordLayer) -> list[Event]:
    out: list[Event] = []
    while (event := layer.next_event()) is not None:
        out.append(event)
    return out


def rejected(layer: RecordLayer, record: bytes) -> Alert:
    with pytest.raises(ProtocolError) as info:
        layer.unprotect(record)
    return info.value.alert


def test_initiator_side_reordering_across_the_boundary() -> None:
    """Records of epoch 0 sent before key_update are accepted after it, until the first epoch-1 record."""
    a, b = pair()
    old = [a.protect(APP, b"d%d" % i) for i in range(3)]
    update = a.start_key_update(ShakeRng(b"n1"))
    assert a.epoch == 1 and isinstance(events(a)[-1], KeyUpdateStarted)
    new = a.protect(APP, b"d3")
    assert decode_record(update).epoch == 0 and decode_record(new).epoch == 1

    assert b.unprotect(update) == (ContentType.KEY_UPDATE, ShakeRng(b"n1")(16))
    (ack,) = b.records_to_send()
    assert b.epoch == 1 and b.recipient_epochs() == [0, 1]
    assert b.unprotect(old[2]) == (APP, b"d2")
    assert b.unprotect(old[1]) == (APP, b"d1")
    assert b.unprotect(new) == (APP, b"d3")
    assert b.recipient_epochs() == [1]
    assert rejected(b, old[0]) is Alert.DECRYPT_FAILED  # epoch 0 is gone now

    assert a.unprotect(ack) == (ContentType.KEY_UPDATE_ACK, b"")
    assert any(isinstance(e, KeyUpdateCompleted) and e.epoch == 1 for e in events(a))
    assert b.unprotect(a.protect(APP, b"after")) == (APP, b"after")
    assert a.unprotect(b.protect(APP, b"reply")) == (APP, b"reply")


def test_responder_side_reordering_across_the_boundary() -> None:
    """The updating side keeps its epoch-0 recipient keys until the peer's first epoch-1 record (the ack)."""
    a, b = pair()
    late = [b.protect(APP, b"b%d" % i) for i in range(2)]
    b.unprotect(a.start_key_update(ShakeRng(b"n2")))
    (ack,) = b.records_to_send()
    assert a.unprotect(late[1]) == (APP, b"b1")  # epoch 0, arrives after a switched
    assert a.unprotect(ack)[0] is ContentType.KEY_UPDATE_ACK
    assert a.recipient_epochs() == [1]
    assert rejected(a, late[0]) is Alert.DECRYPT_FAILED


def test_updates_in_both_directions_advance_the_epoch() -> None:
    """Either side may update; epochs advance 0 -> 1 -> 2 -> 3 and traffic flows both ways at each step."""
    a, b = pair()
    for starter, follower, seed in ((a, b, b"x"), (b, a, b"y"), (a, b, b"z")):
        follower.unprotect(starter.start_key_update(ShakeRng(seed)))
        (ack,) = follower.records_to_send()
        starter.unprotect(ack)
        assert a.epoch == b.epoch
        assert follower.unprotect(starter.protect(APP, b"s")) == (APP, b"s")
        assert starter.unprotect(follower.protect(APP, b"f")) == (APP, b"f")
    assert a.epoch == 3 and decode_record(a.protect(APP, b"")).epoch == 3


def test_simultaneous_updates_converge_on_the_larger_nonce() -> None:
    """Both sides start an update in the same epoch: the larger nonce wins, both end with the same keys."""
    a, b = pair()
    update_a = a.start_key_update(lambda n: b"\x01" * n)
    update_b = b.start_key_update(lambda n: b"\xff" * n)  # larger: wins
    a.unprotect(update_b)
    b.unprotect(update_a)
    assert b.records_to_send() == []  # b's own update won; it ignores a's
    (ack,) = a.records_to_send()
    b.unprotect(ack)
    assert a.epoch == b.epoch == 1
    assert b.unprotect(a.protect(APP, b"1")) == (APP, b"1")
    assert a.unprotect(b.protect(APP, b"2")) == (APP, b"2")


def test_key_update_needs_the_session_callback() -> None:
    a = RecordLayer(
        aead=registry.aead(3),
        hkdf=registry.hash_algorithm(-16),
        master_secret=b"\x01" * 32,
        master_salt=b"",
        sender_id=b"\x01",
        recipient_id=b"\x02",
        store=MemorySequenceStore(),
    )
    with pytest.raises(ProtocolError) as info:
        a.start_key_update(ShakeRng(b""))
    assert info.value.alert is Alert.KEY_UPDATE_FAILED


def test_a_second_update_before_the_ack_is_refused() -> None:
    a, _ = pair()
    a.start_key_update(ShakeRng(b"1"))
    with pytest.raises(ProtocolError) as info:
        a.start_key_update(ShakeRng(b"2"))
    assert info.value.alert is Alert.KEY_UPDATE_FAILED


def test_peer_data_of_the_new_epoch_before_its_ack_completes_the_update() -> None:
    """REQ-KU-003/004: the first valid epoch-1 record completes the update; the late ack is still fine."""
    a, b = pair()
    b.unprotect(a.start_key_update(ShakeRng(b"r")))
    (ack,) = b.records_to_send()
    data = b.protect(APP, b"overtakes the ack")
    assert a.unprotect(data) == (APP, b"overtakes the ack")
    assert [e for e in events(a) if isinstance(e, KeyUpdateCompleted)] == [
        KeyUpdateCompleted(1, ShakeRng(b"r")(16))
    ]
    assert a.unprotect(ack) == (ContentType.KEY_UPDATE_ACK, b"")
    assert not a.closed


def test_each_epoch_has_fresh_sequence_numbers_and_windows() -> None:
    """REQ-KU-001, REQ-REPLAY-005: SSN restarts at 0 in the new epoch and PIV 0 is fresh again."""
    a, b = pair()
    for _ in range(3):
        b.unprotect(a.protect(APP, b"."))
    b.unprotect(a.start_key_update(ShakeRng(b"s")))
    first_new = a.protect(APP, b"new")
    assert decode_record(first_new).piv == b"\x00" and b.unprotect(first_new) == (APP, b"new")


def test_equal_nonce_collision_keeps_the_new_sender_context_at_ssn_0() -> None:
    """REQ-REC-011 / REQ-KU-005: both sides start an update with the same nonce.

    Each adopts the other's update (equal nonces), which derives exactly the
    epoch-1 context it already installed; that context is new and unused, so
    its first record (the ack) carries SSN 0: PIV h'00', not the persisted
    K-ahead bound (32 = PIV h'20').
    """
    a, b = pair()
    same = ShakeRng(b"collision")(16)
    update_a = a.start_key_update(lambda n: same[:n])
    update_b = b.start_key_update(lambda n: same[:n])
    assert a.unprotect(update_b) == (ContentType.KEY_UPDATE, same)
    assert b.unprotect(update_a) == (ContentType.KEY_UPDATE, same)
    (ack_a,) = a.records_to_send()
    (ack_b,) = b.records_to_send()
    for ack in (ack_a, ack_b):
        record = decode_record(ack)
        assert (record.epoch, record.piv) == (1, b"\x00")
    assert b.unprotect(ack_a) == (ContentType.KEY_UPDATE_ACK, b"")
    assert a.unprotect(ack_b) == (ContentType.KEY_UPDATE_ACK, b"")
    data = a.protect(APP, b"next")
    assert (decode_record(data).epoch, decode_record(data).piv) == (1, b"\x01")
    assert b.unprotect(data) == (APP, b"next")
    assert a.unprotect(b.protect(APP, b"back")) == (APP, b"back")
    assert rejected(b, data) is Alert.REPLAY_DETECTED
