"""MQTT binding over a real mosquitto on loopback (spec §12.3)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from pqiot.reference.edhoc.events import HandshakeCompleted
from pqiot.reference.session import ApplicationData, PayloadDropped, SessionState
from pqiot.transports.mqtt import (
    BindingDropped,
    MqttChannel,
    MqttInitiator,
    MqttResponder,
)
from pqiot.transports.mqtt_client import MAX_PAYLOAD, MqttConnection
from pqiot.transports.mqtt_topics import Topics
from pqiot.transports.recovery import RecoveryPolicy

from .conftest import Broker, Parties

pytestmark = pytest.mark.network

PREFIX = "plant1"
FAST = RecoveryPolicy(base_delay=0.05, max_delay=0.5)


async def connection(broker: Broker, client_id: str, version: int = 5) -> MqttConnection:
    conn = MqttConnection(broker.host, broker.port, client_id, version=version, policy=FAST)
    await conn.connect()
    return conn


async def echo_responder(responder: MqttResponder, seen: list[object]) -> None:
    """Echo application data back; record every event."""
    async for channel, event in responder.events():
        seen.append(event)
        if isinstance(event, ApplicationData) and channel is not None:
            channel.session.send(event.data, time.time())


async def run_initiator(initiator: MqttInitiator, messages: list[bytes]) -> list[object]:
    events: list[object] = []
    pending = list(messages)
    echoed = 0
    async for event in initiator.events():
        events.append(event)
        if isinstance(event, HandshakeCompleted):
            for data in pending:
                initiator.channel.session.send(data, time.time())
        elif isinstance(event, ApplicationData):
            echoed += 1
            if echoed == len(messages):
                initiator.channel.session.close(time.time())
    return events


async def handshake_and_echo(
    broker: Broker, parties: Parties, version: int, messages: list[bytes]
) -> tuple[list[object], list[object], MqttInitiator]:
    tag = os.urandom(3).hex()
    topics = Topics(PREFIX)
    r_conn = await connection(broker, f"r-{tag}", version)
    i_conn = await connection(broker, f"i-{tag}", version)
    responder = MqttResponder(r_conn, topics, f"resp-{tag}", parties.responder_factory())
    await responder.open()
    initiator = MqttInitiator(
        i_conn, topics, f"init-{tag}", f"resp-{tag}", parties.initiator(b"\x05"), b"\x05"
    )
    await initiator.open()
    seen: list[object] = []
    server = asyncio.create_task(echo_responder(responder, seen))
    try:
        events = await asyncio.wait_for(run_initiator(initiator, messages), 30)
        await asyncio.sleep(0.1)
    finally:
        server.cancel()
        await i_conn.close()
        await r_conn.close()
    return events, seen, initiator


@pytest.mark.parametrize("version", [5, 311], ids=["mqtt5", "mqtt311"])
def test_handshake_and_echo(mosquitto: Broker, parties: Parties, version: int) -> None:
    """REQ-MQTT-005/007/008: handshake over hs/hsr topics, records on rec topics, echo works."""
    messages = [b"hello", b"x" * 3000]
    events, seen, initiator = asyncio.run(handshake_and_echo(mosquitto, parties, version, messages))
    data = [e.data for e in events if isinstance(e, ApplicationData)]
    assert data == messages
    assert any(isinstance(e, HandshakeCompleted) for e in seen)
    assert not [e for e in events + seen if isinstance(e, PayloadDropped | BindingDropped)]
    assert initiator.channel.session.state is SessionState.CLOSED
    assert initiator.bytes_sent > 1000 and initiator.bytes_received > 1000


# -- validation and limits --------------------------------------------------------


def raw_client(broker: Broker) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


async def collect(responder: MqttResponder, count: int, timeout: float = 5) -> list[Any]:
    seen: list[Any] = []

    async def run() -> None:
        async for _channel, event in responder.events():
            seen.append(event)
            if len(seen) >= count:
                return

    await asyncio.wait_for(run(), timeout)
    return seen


def test_receiver_drops_retained_oversized_and_foreign_reply_topics(
    mosquitto: Broker, default_parties: Parties
) -> None:
    """REQ-MQTT-003/004/006: RETAIN, >64 KiB payloads and a Response Topic outside our tree are dropped."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    async def scenario() -> list[Any]:
        topics = Topics(PREFIX)
        conn = await connection(mosquitto, "r-limits")
        responder = MqttResponder(conn, topics, "resp-limits", default_parties.responder_factory())
        raw = raw_client(mosquitto)
        hs = topics.hs("resp-limits")
        try:
            # a retained message reaches a *new* subscription with RETAIN = 1
            raw.publish(hs, b"\xf5" + b"\x00" * 10, qos=1, retain=True).wait_for_publish(5)
            await responder.open()
            raw.publish(hs, b"\xf5" + b"\x00" * MAX_PAYLOAD, qos=1).wait_for_publish(5)
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "elsewhere/pqiot/v1/victim/hsr"
            props.CorrelationData = b"c" * 16
            raw.publish(hs, b"\xf5\x00", qos=1, properties=props).wait_for_publish(5)
            return await collect(responder, 3)
        finally:
            raw.loop_stop()
            raw.disconnect()
            await conn.close()
            raw2 = raw_client(mosquitto)  # clear the retained message for other tests
            raw2.publish(hs, b"", qos=1, retain=True).wait_for_publish(5)
            raw2.loop_stop()
            raw2.disconnect()

    seen = asyncio.run(scenario())
    assert all(isinstance(e, BindingDropped) for e in seen)
    reasons = sorted((e.alert, e.detail.split(" ")[0]) for e in seen)
    assert [r[0] for r in reasons] == ["decode_error", "decode_error", "message_too_large"]
    assert any("RETAIN" in e.detail for e in seen)
    assert any("Response Topic" in e.detail for e in seen)


def test_sender_refuses_payloads_above_64_kib(mosquitto: Broker) -> None:
    """REQ-MQTT-004: the sender side refuses a 65537-byte payload with message_too_large."""

    async def scenario() -> None:
        conn = await connection(mosquitto, "sender-limit")
        try:
            await conn.publish(
                "plant1/pqiot/v1/x/rec", b"\x00" * MAX_PAYLOAD, require_subscriber=False
            )  # at the limit: fine
            with pytest.raises(ValueError, match="message_too_large"):
                await conn.publish("plant1/pqiot/v1/x/rec", b"\x00" * (MAX_PAYLOAD + 1))
        finally:
            await conn.close()

    asyncio.run(scenario())


# -- QoS 1 redelivery against the replay window --------------------------------------


def test_duplicates_and_reordering_are_handled_by_the_replay_window(
    mosquitto: Broker, default_parties: Parties
) -> None:
    """QoS 1 redelivery: every record accepted exactly once, reordered ones not dropped (REQ-REPLAY-002/004)."""
    order = [2, 0, 1, 0, 4, 3, 2, 4, 1]  # five records, four duplicates, out of order

    async def scenario() -> tuple[list[object], list[object]]:
        topics = Topics(PREFIX)
        r_conn = await connection(mosquitto, "r-dup")
        i_conn = await connection(mosquitto, "i-dup")
        responder = MqttResponder(r_conn, topics, "resp-dup", default_parties.responder_factory())
        await responder.open()
        initiator = MqttInitiator(
            i_conn, topics, "init-dup", "resp-dup", default_parties.initiator(b"\x07"), b"\x07"
        )
        await initiator.open()
        seen: list[object] = []
        server = asyncio.create_task(echo_responder(responder, seen))
        events: list[object] = []
        try:

            async def drive() -> None:
                echoed = 0
                async for event in initiator.events():
                    events.append(event)
                    session = initiator.channel.session
                    if isinstance(event, HandshakeCompleted):
                        for i in range(5):
                            session.send(f"record {i}".encode(), time.time())
                        records = [p[1:] for p in session.data_to_send()]
                        for index in order:
                            await i_conn.publish(topics.rec("resp-dup"), records[index])
                    elif isinstance(event, ApplicationData):
                        echoed += 1
                        if echoed == 5:
                            session.close(time.time())

            await asyncio.wait_for(drive(), 20)
            await asyncio.sleep(0.2)
        finally:
            server.cancel()
            await i_conn.close()
            await r_conn.close()
        return events, seen

    events, seen = asyncio.run(scenario())
    received = [e.data for e in seen if isinstance(e, ApplicationData)]
    assert sorted(received) == [f"record {i}".encode() for i in range(5)]
    replays = [e for e in seen if isinstance(e, PayloadDropped)]
    assert len(replays) == len(order) - 5
    assert all(e.alert.value == "replay_detected" for e in replays)
    assert len([e for e in events if isinstance(e, ApplicationData)]) == 5


def test_duplicate_message_1_is_answered_as_a_retransmission(
    mosquitto: Broker, default_parties: Parties
) -> None:
    """REQ-HS-038 over QoS 1: a redelivered message_1 reaches the same session, one handshake."""

    async def scenario() -> tuple[list[MqttChannel], list[Any]]:
        topics = Topics(PREFIX)
        r_conn = await connection(mosquitto, "r-m1dup")
        i_conn = await connection(mosquitto, "i-m1dup")
        responder = MqttResponder(r_conn, topics, "resp-m1dup", default_parties.responder_factory())
        await responder.open()
        session = default_parties.initiator(b"\x08")
        initiator = MqttInitiator(i_conn, topics, "init-m1dup", "resp-m1dup", session, b"\x08")
        await initiator.open()
        seen: list[object] = []
        server = asyncio.create_task(echo_responder(responder, seen))
        try:
            session.start(time.time())
            (message_1,) = session.data_to_send()
            for _ in range(2):  # the same PUBLISH delivered twice
                await i_conn.publish(
                    topics.hs("resp-m1dup"),
                    b"\xf5" + message_1[1:],
                    response_topic=topics.hsr("init-m1dup"),
                    correlation=initiator.channel.correlation,
                )
            initiator.channel.sent_first = True
            events = []

            async def drive() -> None:
                async for event in initiator.events(start=False):
                    events.append(event)
                    if isinstance(event, HandshakeCompleted):
                        session.send(b"once", time.time())
                    if isinstance(event, ApplicationData):
                        session.close(time.time())

            await asyncio.wait_for(drive(), 20)
            await asyncio.sleep(0.2)
        finally:
            server.cancel()
            await i_conn.close()
            await r_conn.close()
        return responder.channels, events

    channels, events = asyncio.run(scenario())
    assert len(channels) == 1
    completed = [e for e in events if isinstance(e, HandshakeCompleted)]
    assert len(completed) == 1
    # the second message_2 (a retransmission) reaches a finished initiator and is dropped there
    assert [e.data for e in events if isinstance(e, ApplicationData)] == [b"once"]


# -- signed pub/sub -----------------------------------------------------------------


def test_signed_messages_reach_many_subscribers_and_forgeries_do_not(
    mosquitto: Broker, default_parties: Parties
) -> None:
    """Chapter 8 over MQTT: every subscriber verifies every message; a message moved to
    another topic or replayed is reported, never delivered."""
    from pqiot.reference.keystore import KeyStore
    from pqiot.reference.pubsub import MessageVerifier, VerifiedMessage
    from pqiot.reference.software_provider import SoftwareSecurityProvider
    from pqiot.transports.mqtt import SignedPublisher, SignedSubscriber

    identity = default_parties.initiator_identity
    provider = SoftwareSecurityProvider()
    key = identity.install(provider)
    topics = Topics(PREFIX)

    async def scenario() -> list[list[Any]]:
        pub_conn = await connection(mosquitto, "publisher")
        subscribers = []
        for n in range(5):
            store = KeyStore()
            store.add(identity.credential)
            conn = await connection(mosquitto, f"subscriber-{n}")
            sub = SignedSubscriber(conn, topics, MessageVerifier(store))
            await sub.open()
            subscribers.append(sub)
        publisher = SignedPublisher(
            pub_conn, topics, provider=provider, key_ref=key, kid=identity.kid
        )
        try:
            for i in range(10):
                await publisher.publish("line3/temp", f"{i}".encode())
            # a forged copy: the signature covers the topic, so moving it must fail
            raw = raw_client(mosquitto)
            captured = sign_for(publisher, "line3/temp")
            raw.publish(topics.pubsub("line3/other"), captured, qos=1).wait_for_publish(5)
            raw.publish(topics.pubsub("line3/temp"), captured, qos=1).wait_for_publish(5)
            raw.publish(topics.pubsub("line3/temp"), captured, qos=1).wait_for_publish(5)
            raw.loop_stop()
            raw.disconnect()
            results = []
            for sub in subscribers:
                got = [await asyncio.wait_for(sub.next(), 5) for _ in range(13)]
                results.append(got)
            return results
        finally:
            await pub_conn.close()
            for sub in subscribers:
                await sub.connection.close()

    def sign_for(publisher: SignedPublisher, levels: str) -> bytes:
        from pqiot.reference.pubsub import sign_message

        topic = topics.pubsub(levels)
        return sign_message(provider, key, identity.kid, topic, 100, int(time.time() * 1000), b"x")

    results = asyncio.run(scenario())
    for got in results:
        verified = [m for m in got if isinstance(m, VerifiedMessage)]
        dropped = [m for m in got if isinstance(m, BindingDropped)]
        assert [m.content for m in verified[:10]] == [f"{i}".encode() for i in range(10)]
        assert [m.seq for m in verified] == [*range(10), 100]
        assert len(dropped) == 2  # moved to another topic, then the replay
        assert [d.alert for d in dropped] == ["authentication_failed", "replay_detected"]


def test_record_topic_is_bound_into_the_aad(default_parties: Parties) -> None:
    """REQ-MQTT-008: a record sealed for `…/resp/rec` opens there and nowhere else, and a
    key_update_ack produced while receiving is sealed for the peer's topic."""
    from pqiot.reference.session import KIND_HANDSHAKE, Session
    from pqiot.transports.mqtt import bind_record_topics

    topics = Topics(PREFIX)
    initiator, responder = default_parties.initiator(b"\x03"), default_parties.responder(b"\x04")
    initiator.start(1.0)
    for _ in range(4):  # message_1 .. message_3
        for payload in initiator.data_to_send():
            assert payload[0] == KIND_HANDSHAKE
            responder.receive(payload, 1.0)
        for payload in responder.data_to_send():
            initiator.receive(payload, 1.0)
    assert initiator.records is not None and responder.records is not None

    def bind(session: Session, me: str, peer: str) -> None:
        assert session.records is not None
        bind_record_topics(session.records, topics.rec(peer), topics.rec(me))

    bind(initiator, "init", "resp")
    bind(responder, "resp", "init")
    initiator.send(b"to resp", 2.0)
    (record,) = initiator.data_to_send()
    responder.receive(record, 2.0)
    events = [e for e in iter(responder.next_event, None)]
    assert ApplicationData(b"to resp") in events

    # a key update exercises a record sealed *inside* receive(): the ack goes to init's topic
    initiator.update_keys(3.0)
    for payload in initiator.data_to_send():
        responder.receive(payload, 3.0)
    for payload in responder.data_to_send():
        initiator.receive(payload, 3.0)
    assert not [e for e in iter(initiator.next_event, None) if isinstance(e, PayloadDropped)]

    # the same bytes published on another party's topic fail authentication
    initiator.send(b"moved", 4.0)
    (moved,) = initiator.data_to_send()
    assert responder.records is not None
    bind_record_topics(responder.records, topics.rec("init"), topics.rec("someone-else"))
    responder.receive(moved, 4.0)
    dropped = [e for e in iter(responder.next_event, None) if isinstance(e, PayloadDropped)]
    assert [d.alert.value for d in dropped] == ["decrypt_failed"]
