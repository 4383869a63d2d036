"""Serve a sans-I/O Test Agent on TCP with the 4-byte length prefix (REQ-TCP-006).

``pqiot agent --listen tcp://HOST:PORT`` runs this around
:class:`pqiot.reference.tap.agent.ReferenceTestAgent`, which makes the reference
implementation a device under test (target ``host-ref``). Requests are handled
strictly one at a time across all connections (REQ-TAP-001). A frame above
``max_tap_request`` is read and discarded unparsed and answered with status 4
and request_id null (REQ-TAP-006); a zero length closes the connection
(REQ-TCP-002).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Protocol

from pqiot.reference.tap.codes import Status
from pqiot.reference.tap.messages import TapResponse, encode_response

__all__ = ["AgentServer", "MessageHandler"]

#: A frame longer than this is not even drained: the connection is closed.
DRAIN_LIMIT = 16 * 1024 * 1024


class MessageHandler(Protocol):
    def handle(self, message: bytes) -> bytes: ...


def _read_exact(conn: socket.socket, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        data = conn.recv(min(n - len(chunks), 65536))
        if not data:
            return None
        chunks += data
    return bytes(chunks)


class AgentServer:
    """A listening socket; :meth:`serve_forever` blocks, :meth:`start` runs it in a thread."""

    def __init__(
        self,
        agent: MessageHandler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_request: int = 65536,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._agent = agent
        self._max_request = max_request
        self._log = log or (lambda _line: None)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._sock = socket.create_server((host, port), reuse_port=False)
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"tcp://{host}:{port}"

    def start(self) -> AgentServer:
        thread = threading.Thread(target=self.serve_forever, name="tap-agent", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        self._sock.settimeout(0.2)
        while not self._closing.is_set():
            try:
                conn, peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self._log(f"TAP connection from {peer[0]}:{peer[1]}")
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, conn: socket.socket) -> None:
        self._connections.add(conn)
        try:
            with conn:
                while not self._closing.is_set():
                    header = _read_exact(conn, 4)
                    if header is None:
                        return
                    length = int.from_bytes(header, "big")
                    if length == 0 or length > DRAIN_LIMIT:
                        return
                    body = _read_exact(conn, length)
                    if body is None:
                        return
                    if length > self._max_request:
                        reply = encode_response(
                            TapResponse(
                                None,
                                Status.TOO_LARGE,
                                {"error": f"request above max_tap_request {self._max_request}"},
                            )
                        )
                    else:
                        with self._lock:
                            reply = self._agent.handle(body)
                    conn.sendall(len(reply).to_bytes(4, "big") + reply)
        except OSError:
            return
        finally:
            self._connections.discard(conn)

    def close(self) -> None:
        self._closing.set()
        self._sock.close()
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> AgentServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
