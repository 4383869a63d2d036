"""CoAP binding (spec §12.4): EDHOC over CoAP, OSCORE, block-wise, limits, libcoap interop."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from pqiot.reference.edhoc.events import HandshakeCompleted
from pqiot.reference.edhoc.messages import decode_error_message
from pqiot.transports.coap import (
    CF_CID_EDHOC_CBOR_SEQ,
    CF_EDHOC_CBOR_SEQ,
    MAX_BODY,
    CoapEdhocError,
    CoapInitiator,
    CoapServer,
)

from .conftest import Parties

T = TypeVar("T")
COAP_CLIENT = shutil.which("coap-client-notls")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(parties: Parties) -> AsyncIterator[tuple[CoapServer, str]]:
    server = CoapServer(parties.responder_factory())
    port = free_udp_port()
    await server.start("127.0.0.1", port)
    try:
        yield server, f"coap://127.0.0.1:{port}"
    finally:
        await server.stop()


def run(scenario: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(bounded())


def test_handshake_then_oscore_echo_with_blockwise(parties: Parties) -> None:
    """REQ-COAP-001/003/005: EDHOC at /.well-known/edhoc (message_2 is several kB: Block2),
    then OSCORE requests up to ~16 KiB both ways (Block1 and Block2)."""

    async def scenario() -> tuple[HandshakeCompleted, list[tuple[Code, bytes]], CoapInitiator]:
        async with serving(parties) as (server, uri):
            client = await aiocoap.Context.create_client_context()
            try:
                initiator = CoapInitiator(client, uri, parties.initiator())
                completed = await initiator.handshake()
                answers = [
                    await initiator.request("echo", b"hello"),
                    await initiator.request("echo", bytes(range(256)) * 40),  # 10240 bytes
                    await initiator.request("nowhere", b"x"),
                ]
                assert server.completed[0].c_r == completed.c_r
                return completed, answers, initiator
            finally:
                await client.shutdown()

    completed, answers, initiator = run(scenario)
    assert completed.suite_id == parties.suite
    assert answers[0] == (Code.CHANGED, b"hello")
    assert answers[1] == (Code.CHANGED, bytes(range(256)) * 40)
    assert answers[2][0] == Code.NOT_FOUND  # path validation happens inside OSCORE
    assert initiator.bytes_received > 1024  # message_2 needed Block2


def test_replayed_oscore_request_is_refused_with_4_01(default_parties: Parties) -> None:
    """REQ-COAP-007: a replayed request gets 4.01 Unauthorized, not a second execution."""

    async def scenario() -> tuple[Code, Code]:
        async with serving(default_parties) as (_server, uri):
            client = await aiocoap.Context.create_client_context()
            try:
                initiator = CoapInitiator(client, uri, default_parties.initiator())
                await initiator.handshake()
                await initiator.request("echo", b"once")
                initiator._ssn = 0  # a replay of the first request's Partial IV
                replay_code, _ = await initiator.request("echo", b"once")
                fresh_code, _ = await initiator.request("echo", b"fresh")
                return replay_code, fresh_code
            finally:
                await client.shutdown()

    replay_code, fresh_code = run(scenario)
    assert replay_code == Code.UNAUTHORIZED
    assert fresh_code == Code.CHANGED


async def post(
    uri: str, payload: bytes, content_format: int | None = None, **opts: object
) -> aiocoap.Message:
    client = await aiocoap.Context.create_client_context()
    try:
        request = aiocoap.Message(code=Code.POST, uri=uri, payload=payload)
        if content_format is not None:
            request.opt.content_format = content_format
        for name, value in opts.items():
            setattr(request.opt, name, value)
        return await client.request(request).response
    finally:
        await client.shutdown()


def test_edhoc_resource_path_method_query_and_size_rules(default_parties: Parties) -> None:
    """REQ-COAP-002/004: only POST on exactly /.well-known/edhoc, no query, body <= 16 KiB."""

    async def scenario() -> dict[str, aiocoap.Message]:
        async with serving(default_parties) as (_server, uri):
            edhoc = uri + "/.well-known/edhoc"
            client = await aiocoap.Context.create_client_context()
            try:
                get = await client.request(aiocoap.Message(code=Code.GET, uri=edhoc)).response
            finally:
                await client.shutdown()
            return {
                "other path": await post(uri + "/.well-known/edhoc2", b"\xf5"),
                "nested path": await post(edhoc + "/x", b"\xf5"),
                "get": get,
                "query": await post(edhoc + "?x=1", b"\xf5"),
                "too large": await post(edhoc, b"\xf5" + b"\x00" * MAX_BODY),
                "garbage": await post(edhoc, b"\xf5\xff", CF_CID_EDHOC_CBOR_SEQ),
                "unknown C_R": await post(edhoc, b"\x42\x01\x02\x40", CF_CID_EDHOC_CBOR_SEQ),
            }

    responses = run(scenario)
    assert responses["other path"].code == Code.NOT_FOUND
    assert responses["nested path"].code == Code.NOT_FOUND
    assert responses["get"].code == Code.METHOD_NOT_ALLOWED
    assert responses["query"].code == Code.BAD_REQUEST and responses["query"].payload == b""
    assert responses["too large"].code == Code.REQUEST_ENTITY_TOO_LARGE
    assert responses["too large"].opt.size1 == MAX_BODY
    for name in ("garbage", "unknown C_R"):
        response = responses[name]
        assert response.code == Code.BAD_REQUEST
        assert response.opt.content_format == CF_EDHOC_CBOR_SEQ
        assert decode_error_message(response.payload).err_code == 1


def test_failed_authentication_maps_to_4_00_with_an_edhoc_error(
    default_parties: Parties, tmp_path: Path
) -> None:
    """Alert while processing message_1/3 -> 4.00 Bad Request carrying the EDHOC error."""
    from .conftest import make_parties, mldsa_identity

    stranger = make_parties(-102, tmp_path)
    stranger.initiator_identity = mldsa_identity("stranger")  # not allow-listed by the responder

    async def scenario() -> CoapEdhocError:
        async with serving(default_parties) as (_server, uri):
            client = await aiocoap.Context.create_client_context()
            try:
                initiator = CoapInitiator(client, uri, stranger.initiator())
                with pytest.raises(CoapEdhocError) as failure:
                    await initiator.handshake()
                return failure.value
            finally:
                await client.shutdown()

    failure = run(scenario)
    assert failure.code == Code.BAD_REQUEST
    error = decode_error_message(failure.payload)
    assert error.err_code == 3  # RFC 9528 §6.4: unknown credential referenced


def test_oscore_request_above_16_kib_is_refused_by_the_sender(default_parties: Parties) -> None:
    """REQ-COAP-010."""

    async def scenario() -> None:
        async with serving(default_parties) as (_server, uri):
            client = await aiocoap.Context.create_client_context()
            try:
                initiator = CoapInitiator(client, uri, default_parties.initiator())
                await initiator.handshake()
                with pytest.raises(ValueError, match="message_too_large"):
                    await initiator.request("echo", b"\x00" * MAX_BODY)
            finally:
                await client.shutdown()

    run(scenario)


@pytest.mark.network
@pytest.mark.skipif(COAP_CLIENT is None, reason="coap-client-notls (libcoap3-bin) missing")
def test_libcoap_client_exchanges_blockwise_edhoc_with_the_reference_server(
    parties: Parties, tmp_path: Path
) -> None:
    """Interop: libcoap's coap-client POSTs our message_1 with Block1 (64-byte blocks) and
    fetches the multi-kB message_2 with Block2; our Initiator verifies that message_2 and its
    message_3, sent by coap-client again, completes the handshake at the server."""
    from pqiot.reference.edhoc import events as hs
    from pqiot.transports.connection_ids import initiator_c_r

    session = parties.initiator()
    session.start(0.0)
    (message_1,) = session.data_to_send()
    (tmp_path / "m1").write_bytes(b"\xf5" + message_1[1:])

    def coap_client(uri: str, infile: str, outfile: str) -> subprocess.CompletedProcess[str]:
        assert COAP_CLIENT is not None
        return subprocess.run(
            [
                COAP_CLIENT,
                "-m",
                "post",
                "-b",
                "64",
                "-t",
                str(CF_CID_EDHOC_CBOR_SEQ),
                "-f",
                infile,
                "-o",
                outfile,
                "-B",
                "20",
                uri,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )

    async def scenario() -> tuple[CoapServer, bytes]:
        async with serving(parties) as (server, uri):
            edhoc = uri + "/.well-known/edhoc"
            done = await asyncio.to_thread(
                coap_client, edhoc, str(tmp_path / "m1"), str(tmp_path / "m2")
            )
            assert done.returncode == 0, done.stderr
            message_2 = (tmp_path / "m2").read_bytes()
            session.receive(b"\x00" + message_2, 0.0)
            (message_3,) = session.data_to_send()
            c_r = initiator_c_r(session)
            assert c_r is not None
            from pqiot.reference.edhoc.wire import encode_connection_id

            (tmp_path / "m3").write_bytes(encode_connection_id(c_r) + message_3[1:])
            done = await asyncio.to_thread(
                coap_client, edhoc, str(tmp_path / "m3"), str(tmp_path / "m4")
            )
            assert done.returncode == 0, done.stderr
            return server, message_2

    server, message_2 = run(scenario, 60)
    assert len(message_2) > 1024  # really block-wise at 64-byte blocks
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    assert any(isinstance(e, hs.HandshakeCompleted) for e in events)
    assert len(server.completed) == 1
    assert len(message_1) > 800


@pytest.mark.network
@pytest.mark.skipif(COAP_CLIENT is None, reason="coap-client-notls (libcoap3-bin) missing")
def test_libcoap_client_gets_4_13_for_a_body_above_16_kib(
    default_parties: Parties, tmp_path: Path
) -> None:
    """REQ-COAP-004 against libcoap: a Block1 upload growing past 16384 bytes is refused."""
    (tmp_path / "big").write_bytes(b"\xf5" + b"\x41" * 20000)

    async def scenario() -> subprocess.CompletedProcess[str]:
        async with serving(default_parties) as (_server, uri):
            assert COAP_CLIENT is not None
            command = [
                COAP_CLIENT,
                "-m",
                "post",
                "-b",
                "1024",
                "-f",
                str(tmp_path / "big"),
                "-B",
                "3",
                uri + "/.well-known/edhoc",
            ]
            return await asyncio.to_thread(
                subprocess.run,
                command,
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )

    result = run(scenario)
    assert "4.13" in result.stdout + result.stderr
