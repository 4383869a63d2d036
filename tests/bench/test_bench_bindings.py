"""Handshake wall time and bytes on the wire per suite per binding (loopback), and
signed pub/sub throughput over mosquitto.

Bytes counted per binding (both directions, one handshake):
- tcp: whole frames (4-byte length prefix + kind + message);
- serial: everything written on the line (COBS frames with header, CRC, delimiter; MTU 256);
- mqtt: PUBLISH payloads (the §12.3.2 prefixes included; MQTT fixed/variable headers,
  topic names and properties not counted);
- coap: CoAP payloads (the A.2 prefixes included; CoAP headers, Block options not counted).
`make bench` times them; `make test` runs each once, untimed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiocoap
import pytest

from pqiot.reference.edhoc.events import HandshakeCompleted
from pqiot.transports.coap import CoapInitiator, CoapServer
from pqiot.transports.mqtt import MqttInitiator, MqttResponder
from pqiot.transports.mqtt_client import MqttConnection
from pqiot.transports.mqtt_topics import Topics
from pqiot.transports.serial import SerialPort, SerialSession
from pqiot.transports.tcp import SessionStream
from pqiot.transports.urls import SerialUrl

from ..transports.conftest import (
    Broker,
    Parties,
    make_parties,
    mosquitto,  # noqa: F401 (fixture)
)

SUITES = [-102, -109]
Handshake = Callable[[Parties], Awaitable[int]]


@pytest.fixture(params=SUITES, ids=lambda s: f"suite{s}")
def suite_parties(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Parties:
    return make_parties(int(request.param), tmp_path_factory.mktemp("ids"))


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


async def tcp_handshake(parties: Parties) -> int:
    done = asyncio.Event()
    responder_stream: list[SessionStream] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = SessionStream(parties.responder(), reader, writer)
        responder_stream.append(stream)
        async for event in stream.events():
            if isinstance(event, HandshakeCompleted):
                break
        await done.wait()
        await stream.aclose()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    stream = SessionStream(parties.initiator(), reader, writer)
    stream.session.start(time.time())
    async for event in stream.events():
        if isinstance(event, HandshakeCompleted):
            break
    done.set()
    await stream.aclose()
    server.close()
    return stream.bytes_sent + stream.bytes_received


class SerialLine:
    """Two socket:// endpoints joined by a loopback relay (a null-modem cable), kept open
    across rounds as a real serial link is."""

    async def open(self) -> None:
        peers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        both = asyncio.Event()

        async def accept(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            peers.append((r, w))
            if len(peers) == 2:
                both.set()

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            while data := await r.read(4096):
                w.write(data)
                await w.drain()

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        url = SerialUrl(f"socket://127.0.0.1:{self.server.sockets[0].getsockname()[1]}")
        self.port_i, self.port_r = await SerialPort.open(url), await SerialPort.open(url)
        await both.wait()
        self.relay = [
            asyncio.create_task(pump(peers[0][0], peers[1][1])),
            asyncio.create_task(pump(peers[1][0], peers[0][1])),
        ]

    async def close(self) -> None:
        for task in self.relay:
            task.cancel()
        await self.port_i.close()
        await self.port_r.close()
        self.server.close()

    async def handshake(self, parties: Parties) -> int:
        before = self.port_i.bytes_written + self.port_r.bytes_written
        responder = SerialSession(parties.responder(binding_context=b"\x00"), self.port_r)
        initiator = SerialSession(parties.initiator(binding_context=b"\x00"), self.port_i)

        async def serve() -> None:
            async for event in responder.events():
                if isinstance(event, HandshakeCompleted):
                    return

        task = asyncio.create_task(serve())
        initiator.session.start(time.time())
        async for event in initiator.events():
            if isinstance(event, HandshakeCompleted):
                break
        await task
        return self.port_i.bytes_written + self.port_r.bytes_written - before


class MqttLine:
    """A responder serving on a broker; each round is a new initiator session."""

    def __init__(self, broker: Broker, parties: Parties) -> None:
        self.broker, self.parties, self.round = broker, parties, 0

    async def open(self) -> None:
        self.topics = Topics("bench")
        self.r_conn = MqttConnection(self.broker.host, self.broker.port, "bench-r")
        self.i_conn = MqttConnection(self.broker.host, self.broker.port, "bench-i")
        await self.r_conn.connect()
        await self.i_conn.connect()
        responder = MqttResponder(
            self.r_conn, self.topics, "resp", self.parties.responder_factory()
        )
        await responder.open()

        async def serve() -> None:
            async for _channel, _event in responder.events():
                pass

        self.server = asyncio.create_task(serve())

    async def close(self) -> None:
        self.server.cancel()
        await self.i_conn.close()
        await self.r_conn.close()

    async def handshake(self, parties: Parties) -> int:
        self.round += 1
        cid = bytes([self.round % 24])
        initiator = MqttInitiator(
            self.i_conn, self.topics, "init", "resp", parties.initiator(cid), cid
        )
        await initiator.open()
        async for event in initiator.events():
            if isinstance(event, HandshakeCompleted):
                break
        return initiator.bytes_sent + initiator.bytes_received


class CoapLine:
    """A CoAP server and a client context kept across rounds."""

    def __init__(self, parties: Parties) -> None:
        self.parties = parties

    async def open(self) -> None:
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = CoapServer(self.parties.responder_factory())
        await self.server.start("127.0.0.1", self.port)
        self.client = await aiocoap.Context.create_client_context()

    async def close(self) -> None:
        await self.client.shutdown()
        await self.server.stop()

    async def handshake(self, parties: Parties) -> int:
        initiator = CoapInitiator(self.client, f"coap://127.0.0.1:{self.port}", parties.initiator())
        await initiator.handshake()
        return initiator.bytes_sent + initiator.bytes_received


def _bench(
    benchmark: Any,
    loop: asyncio.AbstractEventLoop,
    parties: Parties,
    handshake: Handshake,
    binding: str,
) -> None:
    sizes: list[int] = []

    def once() -> None:
        sizes.append(loop.run_until_complete(asyncio.wait_for(handshake(parties), 60)))

    benchmark.pedantic(once, rounds=5, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(
        {"binding": binding, "suite": parties.suite, "bytes_on_wire": sizes[-1]}
    )
    assert sizes[-1] > 1000


def test_handshake_tcp(
    benchmark: Any, loop: asyncio.AbstractEventLoop, suite_parties: Parties
) -> None:
    _bench(benchmark, loop, suite_parties, tcp_handshake, "tcp")


def test_handshake_serial(
    benchmark: Any, loop: asyncio.AbstractEventLoop, suite_parties: Parties
) -> None:
    line = SerialLine()
    loop.run_until_complete(line.open())
    try:
        _bench(benchmark, loop, suite_parties, line.handshake, "serial")
    finally:
        loop.run_until_complete(line.close())


@pytest.mark.network
def test_handshake_mqtt(
    benchmark: Any,
    loop: asyncio.AbstractEventLoop,
    suite_parties: Parties,
    mosquitto: Broker,  # noqa: F811
) -> None:
    line = MqttLine(mosquitto, suite_parties)
    loop.run_until_complete(line.open())
    try:
        _bench(benchmark, loop, suite_parties, line.handshake, "mqtt")
    finally:
        loop.run_until_complete(line.close())


def test_handshake_coap(
    benchmark: Any, loop: asyncio.AbstractEventLoop, suite_parties: Parties
) -> None:
    line = CoapLine(suite_parties)
    loop.run_until_complete(line.open())
    try:
        _bench(benchmark, loop, suite_parties, line.handshake, "coap")
    finally:
        loop.run_until_complete(line.close())


@pytest.mark.network
def test_signed_pubsub_throughput(
    benchmark: Any,
    loop: asyncio.AbstractEventLoop,
    mosquitto: Broker,  # noqa: F811
    tmp_path: Path,
) -> None:
    """50 signed (ML-DSA-44) messages published and verified by 3 subscribers per round."""
    from pqiot.reference.keystore import KeyStore
    from pqiot.reference.pubsub import MessageVerifier, VerifiedMessage
    from pqiot.reference.software_provider import SoftwareSecurityProvider
    from pqiot.transports.mqtt import SignedPublisher, SignedSubscriber

    parties = make_parties(-102, tmp_path)
    identity = parties.initiator_identity
    provider = SoftwareSecurityProvider()
    key = identity.install(provider)
    topics = Topics("benchps")
    count, subscribers_n = 50, 3

    async def setup() -> tuple[SignedPublisher, list[SignedSubscriber]]:
        pub_conn = MqttConnection(mosquitto.host, mosquitto.port, "bench-pub")
        await pub_conn.connect()
        subs = []
        for n in range(subscribers_n):
            store = KeyStore()
            store.add(identity.credential)
            conn = MqttConnection(mosquitto.host, mosquitto.port, f"bench-sub-{n}")
            await conn.connect()
            sub = SignedSubscriber(conn, topics, MessageVerifier(store, window=4096))
            await sub.open()
            subs.append(sub)
        return SignedPublisher(
            pub_conn, topics, provider=provider, key_ref=key, kid=identity.kid
        ), subs

    publisher, subscribers = loop.run_until_complete(setup())

    async def round_trip() -> None:
        async def drain(sub: SignedSubscriber) -> None:
            for _ in range(count):
                assert isinstance(await sub.next(), VerifiedMessage)

        readers = [asyncio.create_task(drain(s)) for s in subscribers]
        for i in range(count):
            await publisher.publish("line/temp", i.to_bytes(4, "big") * 16)
        await asyncio.wait_for(asyncio.gather(*readers), 60)

    def once() -> None:
        loop.run_until_complete(round_trip())

    try:
        benchmark.pedantic(once, rounds=3, iterations=1, warmup_rounds=0)
    finally:

        async def close() -> None:
            await publisher.connection.close()
            for sub in subscribers:
                await sub.connection.close()

        loop.run_until_complete(close())
    benchmark.extra_info.update({"messages_per_round": count, "subscribers": subscribers_n})
