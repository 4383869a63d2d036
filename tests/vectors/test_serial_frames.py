"""Protocol vectors carry every message's channel-0 serial frames (spec §12.1, schema 2).

A device on a UART sees these exact bytes; the verifier regenerates them and
also feeds them to a serial receiver, which must reassemble the payload.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pqiot.reference.framing import cobs
from pqiot.reference.framing.serial_frames import crc32
from pqiot.vectors.agent import ReferenceAgent
from pqiot.vectors.catalog import DATA_DIR
from pqiot.vectors.jsonfile import load_vector_file
from pqiot.vectors.protocol_vectors import check_handshake_record, handshake_set
from pqiot.vectors.runner import run_set

MTU = 256


def _records(name: str) -> list[dict[str, Any]]:
    return list(load_vector_file(DATA_DIR / "handshakes" / name).records)


def test_every_wire_message_has_its_serial_frames_with_per_sender_msg_ids() -> None:
    """REQ-SER-001/002: COBS(channel 0 || msg_id || index || count || fragment || CRC-32 LE) || 00."""
    for path in sorted((DATA_DIR / "handshakes").glob("suite*.json")):
        for record in _records(path.name):
            assert record["inputs"]["serial_mtu"] == MTU
            assert "REQ-SER-001" in record["req"]
            next_id = {"initiator": 0, "responder": 0}
            for entry in record["expected"]["wire"]:
                payload = bytes.fromhex(entry["payload"])
                assert entry["serial_msg_id"] == next_id[entry["from"]], record["id"]
                next_id[entry["from"]] += 1
                frames = [bytes.fromhex(f) for f in entry["serial_frames"]]
                assert len(frames) == max(1, -(-len(payload) // MTU))
                reassembled = b""
                for index, frame in enumerate(frames):
                    assert frame.endswith(b"\x00") and b"\x00" not in frame[:-1]
                    raw = cobs.decode(frame[:-1])
                    header, fragment, crc = raw[:4], raw[4:-4], raw[-4:]
                    assert header == bytes([0, entry["serial_msg_id"], index, len(frames)])
                    assert crc == crc32(raw[:-4]).to_bytes(4, "little")
                    reassembled += fragment
                assert reassembled == payload


def test_fragmented_messages_are_present() -> None:
    """ML-KEM/ML-DSA handshake messages exceed the 256-byte MTU and must be fragmented."""
    (record,) = [r for r in _records("suite-102.json") if r["inputs"]["method"] == 0][:1]
    assert max(len(e["serial_frames"]) for e in record["expected"]["wire"]) > 1


def test_a_corrupted_serial_frame_fails_verification(tmp_path: Path) -> None:
    shutil.copytree(DATA_DIR / "handshakes", tmp_path / "handshakes", dirs_exist_ok=False)
    path = tmp_path / "handshakes" / "suite0.json"
    document = json.loads(path.read_text())
    frame = document["records"][0]["expected"]["wire"][1]["serial_frames"][0]
    flipped = f"{int(frame[8:10], 16) ^ 0x01:02x}"
    document["records"][0]["expected"]["wire"][1]["serial_frames"][0] = (
        frame[:8] + flipped + frame[10:]
    )
    path.write_text(json.dumps(document))
    view = next(load_vector_file(path).views())
    result = check_handshake_record(view)
    assert result.status == "failed"
    assert "wire[1]" in result.detail and "serial" in result.detail


def test_a_file_without_serial_frames_is_a_reported_failure(tmp_path: Path) -> None:
    (tmp_path / "handshakes").mkdir()
    document = json.loads((DATA_DIR / "handshakes" / "suite0.json").read_text())
    del document["records"][0]["inputs"]["serial_mtu"]
    (tmp_path / "handshakes" / "suite0.json").write_text(json.dumps(document))
    result = run_set(handshake_set(tmp_path), ReferenceAgent())
    assert result.failed == 1 and result.passed == len(document["records"]) - 1
    assert "serial_mtu" in result.failures[0].detail and "record 0" in result.failures[0].detail
