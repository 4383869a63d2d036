"""A device with a planted defect, for the live-fuzzing detection tests (stdlib only).

Starts the host firmware on a private port and relays length-prefixed TAP frames to
it, but misbehaves on any TAP message whose first byte is not 0x83 (a CBOR array of
three items, the shape of every valid request), as ``--mode`` says:

- ``crash``: abort, as a C agent hitting a bad pointer would;
- ``hang``: never answer again (a livelocked agent);
- ``reset``: drop the connection without an answer and serve the next one (a device
  that reboots and comes back).

The fuzzer must classify each, reproduce it on a fresh instance and save it.

usage: planted_crash_proxy.py --listen PORT --firmware PATH [--mode crash|hang|reset]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time


def read_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(sock: socket.socket) -> bytes | None:
    head = read_exact(sock, 4)
    if head is None:
        return None
    length = int.from_bytes(head, "big")
    if length == 0 or length > 1 << 20:
        return None  # broken framing: drop the connection as the firmware does
    return read_exact(sock, length)


def upstream(port: int) -> socket.socket:
    deadline = time.monotonic() + 10
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def die_with_parent() -> None:
    """Runs in the firmware child: SIGKILL it when the proxy dies (even by abort), so no
    firmware outlives the device it belongs to (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def serve(client: socket.socket, firmware_port: int, mode: str) -> None:
    device = upstream(firmware_port)
    try:
        while (payload := read_frame(client)) is not None:
            if payload[0] != 0x83:
                sys.stderr.write(f"planted {mode}: TAP message starts with {payload[0]:#04x}\n")
                sys.stderr.flush()
                if mode == "crash":
                    os.abort()
                if mode == "hang":
                    while True:
                        time.sleep(3600)
                return  # reset: drop the link, accept the next connection
            device.sendall(len(payload).to_bytes(4, "big") + payload)
            answer = read_frame(device)
            if answer is None:
                return
            client.sendall(len(answer).to_bytes(4, "big") + answer)
    finally:
        device.close()
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--firmware", required=True)
    parser.add_argument("--mode", choices=("crash", "hang", "reset"), default="crash")
    args = parser.parse_args()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        firmware_port = probe.getsockname()[1]
    subprocess.Popen(
        [args.firmware, "--listen", str(firmware_port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        preexec_fn=die_with_parent,  # no threads exist yet in this process
    )
    upstream(firmware_port).close()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.listen))
    server.listen(1)
    print(f"TAP listening on 127.0.0.1:{args.listen}", flush=True)
    while True:
        client, _ = server.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        serve(client, firmware_port, args.mode)


if __name__ == "__main__":
    main()
