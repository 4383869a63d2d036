"""K-ahead persistence (D4): no Partial IV reuse and no replay acceptance across crashes."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
from pathlib import Path

import pytest

from pqiot.reference.crypto import registry
from pqiot.reference.errors import ProtocolError
from pqiot.reference.records.layer import RecordLayer
from pqiot.reference.records.persistence import (
    FileSequenceStore,
    MemorySequenceStore,
    RecipientBound,
    SenderSequence,
    SequenceStore,
)
from pqiot.reference.records.record import ContentType, decode_record

K = 4  # small, so that kill points often land inside a store write


def make_layer(store: SequenceStore, *, sender: bytes, recipient: bytes) -> RecordLayer:
    return RecordLayer(
        aead=registry.aead(3),
        hkdf=registry.hash_algorithm(-16),
        master_secret=b"\x42" * 32,
        master_salt=b"\x17" * 8,
        sender_id=sender,
        recipient_id=recipient,
        store=store,
        binding_context=b"\x01",
        k=K,
    )


def test_sender_writes_once_per_k_and_resumes_at_the_bound() -> None:
    store = MemorySequenceStore()
    sequence = SenderSequence(store, "s", k=8)
    assert [sequence.take() for _ in range(20)] == list(range(20))
    assert store.writes == 3 and store.load("s") == 24  # K at creation, then 16 and 24
    assert SenderSequence(store, "s", k=8).take() == 24


def test_recipient_bound_covers_every_accepted_number() -> None:
    store = MemorySequenceStore()
    bound = RecipientBound(store, "r", k=8)
    for n in (0, 3, 9, 8, 30):
        bound.before_accept(n)
        assert store.load("r") is not None and store.load("r") >= n  # type: ignore[operator]
    assert RecipientBound(store, "r", k=8).restored_bound == 38


def test_file_store_round_trip_and_corruption_message(tmp_path: Path) -> None:
    path = tmp_path / "seq.json"
    store = FileSequenceStore(path)
    store.store("a", 5)
    store.store("b", 7)
    store.delete("a")
    assert FileSequenceStore(path).load("b") == 7 and FileSequenceStore(path).load("a") is None
    path.write_text("{not json")
    with pytest.raises(ValueError, match="handshake"):
        FileSequenceStore(path)


def _sender_child(path: str, fd: int) -> None:
    layer = make_layer(FileSequenceStore(Path(path)), sender=b"\x01", recipient=b"\x02")
    while True:
        record = layer.protect(ContentType.APPLICATION_DATA, b"tick")
        os.write(fd, b"%d\n" % int.from_bytes(decode_record(record).piv, "big"))


def _recipient_child(path: str, fd: int, records: list[bytes], seed: int) -> None:
    layer = make_layer(FileSequenceStore(Path(path)), sender=b"\x02", recipient=b"\x01")
    order = records + random.Random(seed).sample(records, len(records))  # replays of everything
    random.Random(seed + 1).shuffle(order[: len(records)])
    for record in order:
        try:
            layer.unprotect(record)
        except ProtocolError:
            continue
        os.write(fd, b"%d\n" % int.from_bytes(decode_record(record).piv, "big"))
    os._exit(0)


def _run_and_kill(target: object, args: tuple[object, ...], lines_before_kill: int) -> list[int]:
    """Start a forked child, SIGKILL it after it reported ``lines_before_kill`` numbers, return all it reported."""
    read_fd, write_fd = os.pipe()
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=target, args=(*args[:1], write_fd, *args[1:]))  # type: ignore[arg-type]
    child.start()
    os.close(write_fd)
    data = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while data.count(b"\n") < lines_before_kill:
            chunk = pipe.read(4096)
            if not chunk:
                break
            data += chunk
        if child.pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it may have finished already
                os.kill(child.pid, signal.SIGKILL)
        child.join()
        while chunk := pipe.read(4096):  # whatever it wrote before dying was emitted too
            data += chunk
    return [int(line) for line in data.split(b"\n") if line]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork() for fast crash children")
def test_sender_killed_at_random_points_never_reuses_a_piv(tmp_path: Path) -> None:
    """REQ D4: a crash never reuses a nonce — 20 SIGKILLs at random points, PIVs stay unique."""
    path = str(tmp_path / "sender.json")
    rng = random.Random(1234)
    emitted: list[int] = []
    for _ in range(20):
        emitted += _run_and_kill(_sender_child, (path,), rng.randint(1, 40))
    assert len(emitted) == len(set(emitted)), "a Partial IV was used twice across restarts"
    restarted = make_layer(FileSequenceStore(Path(path)), sender=b"\x01", recipient=b"\x02")
    assert restarted.restored  # REQ-REPLAY-010: the session should now start a key update
    assert restarted.sent_count > max(emitted)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork() for fast crash children")
def test_recipient_killed_at_random_points_never_accepts_a_replay(tmp_path: Path) -> None:
    """REQ D4: a crash never accepts a replay — every record is accepted at most once, ever."""
    sender = make_layer(MemorySequenceStore(), sender=b"\x01", recipient=b"\x02")
    records = [sender.protect(ContentType.APPLICATION_DATA, b"%d" % i) for i in range(120)]
    path = str(tmp_path / "recipient.json")
    rng = random.Random(99)
    accepted: list[int] = []
    for round_number in range(20):
        accepted += _run_and_kill(
            _recipient_child, (path, records, round_number), rng.randint(1, 15)
        )
    assert accepted, "the recipient never accepted anything; the test would prove nothing"
    assert len(accepted) == len(set(accepted)), "a record was accepted twice across restarts"
