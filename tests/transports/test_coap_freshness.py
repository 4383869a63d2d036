"""CoAP server restart with persisted OSCORE contexts: Echo freshness (REQ-COAP-008)."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import aiocoap
from aiocoap.numbers.codes import Code

from pqiot.reference.oscore.coap import CoapMessage, MessageType
from pqiot.reference.oscore.option import decode_option
from pqiot.reference.oscore.protect import RequestBinding, protect_request, unprotect_response
from pqiot.transports.coap import (
    URI_PATH,
    CoapInitiator,
    CoapServer,
    _from_options,
    _to_message,
)
from pqiot.transports.coap_echo import OPTION_ECHO, EchoChallenges
from pqiot.transports.coap_store import FileContextStore, MemoryContextStore

from .conftest import Parties
from .test_coap import free_udp_port, run


@dataclass
class Captured:
    """An OSCORE request as it went over the wire, and what its response is bound to."""

    code: Code
    option: bytes
    payload: bytes
    binding: RequestBinding | None = None


class RecordingInitiator(CoapInitiator):
    """Keeps a copy of every OSCORE request it sends: what an on-path attacker records."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sent: list[Captured] = []

    async def _send(self, request: aiocoap.Message) -> aiocoap.Message:
        if request.opt.oscore is not None:
            self.sent.append(Captured(request.code, request.opt.oscore, request.payload))
        return await super()._send(request)


async def send_raw(client: aiocoap.Context, uri: str, captured: Captured) -> aiocoap.Message:
    """Inject a recorded request again (new token and message ID, same OSCORE content)."""
    message = aiocoap.Message(code=captured.code, uri=uri, payload=captured.payload)
    message.opt.oscore = captured.option
    return await client.request(message).response


def test_restarted_server_processes_nothing_before_an_echo_round_trip(
    default_parties: Parties,
) -> None:
    """REQ-COAP-008 / REQ-REPLAY-010: after a restart with persisted contexts the first request
    is answered 4.01 + Echo (protected, with the server's own Partial IV) and not processed;
    the client repeats it with the Echo value; pre-restart requests, replayed or held back by
    an attacker, are never processed; the application gets every message exactly once."""
    store = MemoryContextStore()
    seen: list[bytes] = []

    async def handler(path: tuple[str, ...], code: int, payload: bytes) -> tuple[int, bytes]:
        seen.append(payload)
        return int(Code.CHANGED), payload

    def new_server() -> CoapServer:
        return CoapServer(default_parties.responder_factory(), handler=handler, store=store)

    async def scenario() -> dict[str, object]:
        port = free_udp_port()
        uri = f"coap://127.0.0.1:{port}"
        client = await aiocoap.Context.create_client_context()
        server = new_server()
        await server.start("127.0.0.1", port)
        try:
            initiator = RecordingInitiator(client, uri, default_parties.initiator())
            await initiator.handshake()
            before = [await initiator.request("echo", b"m%d" % i) for i in range(3)]
            delivered = initiator.sent[-1]  # processed before the restart
            # An attacker holds back a request the client sent (the client moved on).
            assert initiator.oscore is not None
            plain = CoapMessage(
                MessageType.CON, int(Code.POST), 0, b"", ((URI_PATH, b"echo"),), b"held"
            )
            held_msg, held_binding = protect_request(initiator.oscore, plain, initiator._ssn)
            initiator._ssn += 1
            held = _from_options(held_msg.code, held_msg.options, held_msg.payload)
            held_capture = Captured(held.code, held.opt.oscore, held.payload, held_binding)
        finally:
            await server.stop()
        kid = initiator.oscore.sender_id
        server = new_server()  # the restart: contexts and counters come from the store
        await server.start("127.0.0.1", port)
        try:
            assert server.echo.pending(kid)
            replayed = await send_raw(client, uri, delivered)
            delayed = await send_raw(client, uri, held_capture)
            processed_before_client = len(seen)
            started = time.perf_counter()
            first = await initiator.request("echo", b"m3")
            first_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            after = [await initiator.request("echo", b"m%d" % i) for i in range(4, 6)]
            next_ms = (time.perf_counter() - started) * 1000 / 2
            replayed_late = await send_raw(client, uri, delivered)
            delayed_late = await send_raw(client, uri, held_capture)
            return {
                "before": before,
                "replayed": replayed,
                "delayed": delayed,
                "delayed_inner": unprotect_response(
                    initiator.oscore, _to_message(delayed), held_binding
                ),
                "processed_before_client": processed_before_client,
                "first": first,
                "after": after,
                "replayed_late": replayed_late,
                "delayed_late": delayed_late,
                "echo": server.echo,
                "echo_retries": initiator.echo_retries,
                "ms": (first_ms, next_ms),
            }
        finally:
            await server.stop()
            await client.shutdown()

    result = run(scenario)
    assert result["before"] == [(Code.CHANGED, b"m%d" % i) for i in range(3)]
    # Pre-restart requests injected before the client's next request: authenticated, challenged,
    # not processed. The challenge is protected with the server's own Partial IV (B.1.2).
    for name in ("replayed", "delayed"):
        response = result[name]
        assert isinstance(response, aiocoap.Message)
        assert response.opt.oscore is not None
        assert decode_option(response.opt.oscore).piv is not None
    inner = result["delayed_inner"]
    assert isinstance(inner, CoapMessage)
    assert inner.code == int(Code.UNAUTHORIZED)
    assert len(inner.option_values(OPTION_ECHO)[0]) == 8
    assert result["processed_before_client"] == 3
    # The client's request went through one Echo round trip and was processed once.
    assert result["first"] == (Code.CHANGED, b"m3")
    assert result["echo_retries"] == 1
    echo = result["echo"]
    assert isinstance(echo, EchoChallenges)
    assert echo.challenges == 3 and echo.verified == 1
    assert result["after"] == [(Code.CHANGED, b"m4"), (Code.CHANGED, b"m5")]
    # After the Echo round trip the window's lower limit excludes every pre-restart PIV.
    for name in ("replayed_late", "delayed_late"):
        response = result[name]
        assert isinstance(response, aiocoap.Message)
        assert (response.code, response.payload) == (Code.UNAUTHORIZED, b"Replay detected")
    assert seen == [b"m0", b"m1", b"m2", b"m3", b"m4", b"m5"]  # every message exactly once
    timings = result["ms"]
    assert isinstance(timings, tuple)
    first_ms, next_ms = timings
    print(f"Echo round trip: first request {first_ms:.1f} ms, later requests {next_ms:.1f} ms")


def test_a_server_without_restored_contexts_needs_no_echo(default_parties: Parties) -> None:
    """REQ-COAP-008 applies to restored contexts only: a fresh session costs no extra trip."""

    async def scenario() -> tuple[tuple[Code, bytes], int, int]:
        port = free_udp_port()
        server = CoapServer(default_parties.responder_factory())
        await server.start("127.0.0.1", port)
        client = await aiocoap.Context.create_client_context()
        try:
            initiator = CoapInitiator(
                client, f"coap://127.0.0.1:{port}", default_parties.initiator()
            )
            await initiator.handshake()
            answer = await initiator.request("echo", b"x")
            return answer, initiator.echo_retries, server.echo.challenges
        finally:
            await client.shutdown()
            await server.stop()

    assert run(scenario) == ((Code.CHANGED, b"x"), 0, 0)


def test_echo_values_are_single_use_per_context_and_expire() -> None:
    """RFC 9175 §2.4: only a recent value issued to the same context proves freshness, once."""
    now = [0.0]
    challenges = EchoChallenges(lifetime=5.0, clock=lambda: now[0])
    challenges.require(b"A")
    challenges.require(b"B")
    value = challenges.issue(b"A")
    assert not challenges.verify(b"B", value)  # issued to another context
    assert not challenges.verify(b"A", None)
    assert not challenges.verify(b"A", b"\x00" * 8)
    assert challenges.verify(b"A", value)
    assert not challenges.pending(b"A") and challenges.pending(b"B")
    challenges.require(b"A")
    assert not challenges.verify(b"A", value)  # used up
    late = challenges.issue(b"A")
    now[0] = 5.1
    assert not challenges.verify(b"A", late)  # expired
    assert challenges.pending(b"A")


def test_file_context_store_survives_a_new_process_and_protects_its_secrets(
    default_parties: Parties, tmp_path: Path
) -> None:
    """§7.7: the contexts file re-derives the same keys; it is readable by the owner only."""

    async def scenario() -> CoapServer:
        port = free_udp_port()
        server = CoapServer(default_parties.responder_factory(), store=FileContextStore(tmp_path))
        await server.start("127.0.0.1", port)
        client = await aiocoap.Context.create_client_context()
        try:
            initiator = CoapInitiator(
                client, f"coap://127.0.0.1:{port}", default_parties.initiator()
            )
            await initiator.handshake()
            for _ in range(3):
                await initiator.request("echo", b"x")
            return server
        finally:
            await client.shutdown()
            await server.stop()

    server = run(scenario)
    ((kid, before),) = server.contexts.items()
    reopened = FileContextStore(tmp_path)
    assert set(reopened.load()) == {kid}
    assert reopened.load()[kid].derive() == before.security
    # K ahead (REQ-REPLAY-006/007): a restart resumes count_q at the stored bound, never lower.
    restarted = CoapServer(default_parties.responder_factory(), store=reopened)
    assert restarted.contexts[kid].count_q >= before.count_q == 3
    assert restarted.echo.pending(kid)
    assert stat.S_IMODE(os.stat(tmp_path / "contexts.json").st_mode) == 0o600
