"""GDB remote serial protocol framing: checksums, escapes, run-length encoding, acks/nacks.

The fake server runs on a socket pair, so these are exact protocol checks without QEMU
(the QEMU gdbstub path is in test_qemu_m4.py).
"""

from __future__ import annotations

import socket
import threading

import pytest

from pqiot.hil.gdb_remote import GdbError, GdbRemote, checksum, decode_payload, encode_packet


def test_packet_checksum_is_the_byte_sum_mod_256() -> None:
    assert encode_packet(b"?") == b"$?#3f"
    assert encode_packet(b"qSupported") == b"$qSupported#37"
    assert checksum(b"OK") == 0x9A


def test_binary_payloads_escape_the_framing_bytes() -> None:
    escaped = b"X}\x03}\x04}]}\x0a"  # each of # $ } * becomes } and the byte XOR 0x20
    assert encode_packet(b"X#$}*") == b"$" + escaped + b"#" + b"%02x" % checksum(escaped)
    assert decode_payload(b"}\x03}\x04}]}\x0a") == b"#$}*"


def test_run_length_encoding_is_expanded() -> None:
    """'0* ' = '0' followed by 3 more ('\x20' - 29 = 3)."""
    assert decode_payload(b"0* ") == b"0000"
    assert decode_payload(b'ab*"c') == b"abbbbbc"[:2] + b"b" * 5 + b"c"


def _serve(server: socket.socket, script: list[tuple[bytes, bytes]]) -> None:
    """For each expected request: read until it arrives, then send the canned bytes."""
    buffer = b""
    for expected, answer in script:
        while expected not in buffer:
            data = server.recv(4096)
            if not data:
                return
            buffer += data
        buffer = buffer.split(expected, 1)[1]
        server.sendall(answer)


def _remote(script: list[tuple[bytes, bytes]]) -> tuple[GdbRemote, threading.Thread, socket.socket]:
    client, server = socket.socketpair()
    thread = threading.Thread(target=_serve, args=(server, script), daemon=True)
    thread.start()
    return GdbRemote(client, timeout=2.0), thread, server


def test_a_nacked_packet_is_resent_and_a_corrupt_reply_is_nacked() -> None:
    script = [
        (encode_packet(b"m0,4"), b"-"),  # server: checksum error, please resend
        (encode_packet(b"m0,4"), b"+" + b"$deadbeef#00"),  # ack, then a reply with a bad checksum
        (b"-", encode_packet(b"deadbeef")),  # we nack; server resends correctly
        (b"+", b""),
    ]
    remote, thread, server = _remote(script)
    assert remote.read_memory(0, 4) == bytes.fromhex("deadbeef")
    assert remote.retransmissions == 1
    thread.join(timeout=2)
    server.close()


def test_error_replies_raise() -> None:
    remote, thread, server = _remote([(encode_packet(b"m0,4"), b"+" + encode_packet(b"E14"))])
    with pytest.raises(GdbError, match="E14"):
        remote.read_memory(0, 4)
    thread.join(timeout=2)
    server.close()


def test_a_silent_server_times_out_with_a_clear_error() -> None:
    client, server = socket.socketpair()
    remote = GdbRemote(client, timeout=0.2)
    with pytest.raises(GdbError, match="no answer from the GDB server"):
        remote.request("?")
    server.close()
    client.close()
