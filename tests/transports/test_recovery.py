"""Recovery policy (retries, resends, backoff with jitter, audit) and recovery over MQTT.

Broker restart and peer reboot in the middle of a session: no data is
accepted twice and none is lost without the application being told.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from pqiot.reference.audit import AuditEvent, AuditLog, MemorySink
from pqiot.reference.edhoc.events import HandshakeCompleted
from pqiot.reference.session import ApplicationData, PayloadDropped
from pqiot.transports.mqtt import BindingDropped, DeliveryFailed, MqttInitiator, MqttResponder
from pqiot.transports.mqtt_client import MqttConnection
from pqiot.transports.mqtt_topics import Topics
from pqiot.transports.recovery import GaveUp, RecoveryPolicy, Retrier, with_retries

from .conftest import Broker, Parties

# -- the policy ---------------------------------------------------------------------


def test_defaults_are_three_connection_retries_and_two_resends() -> None:
    policy = RecoveryPolicy()
    assert (policy.connect_retries, policy.resends) == (3, 2)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RecoveryPolicy(base_delay=1.0, multiplier=2.0, max_delay=5.0, jitter=0.5)
    no_jitter = [policy.delay(n, lambda: 0.0) for n in range(1, 6)]
    assert no_jitter == [1.0, 2.0, 4.0, 5.0, 5.0]
    full_jitter = [policy.delay(n, lambda: 1.0) for n in range(1, 4)]
    assert full_jitter == [0.5, 1.0, 2.0]
    assert 0.5 <= policy.delay(1) <= 1.0


def test_every_retry_and_the_give_up_are_audited() -> None:
    sink = MemorySink()
    retrier = Retrier(
        RecoveryPolicy(connect_retries=3),
        "connect",
        "mqtt://x",
        audit=AuditLog(sink, clock=None),
        uniform=lambda: 0.0,
    )
    delays = [retrier.failed(float(n), "refused") for n in range(4)]
    assert delays == [0.5, 1.0, 2.0, None]
    retries, give_ups = sink.events(AuditEvent.RETRY), sink.events(AuditEvent.GIVE_UP)
    # §9.2: `attempt` is 2-based — the first retry is the second attempt.
    assert [r["detail"]["attempt"] for r in retries] == [2, 3, 4]  # type: ignore[index]
    assert len(give_ups) == 1 and give_ups[0]["severity"] == "error"
    assert give_ups[0]["detail"]["operation"] == "connect"  # type: ignore[index]


def test_with_retries_succeeds_after_failures_and_gives_up_when_spent() -> None:
    sink = MemorySink()
    audit = AuditLog(sink, clock=None)
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionRefusedError("down")
        return "up"

    async def never() -> str:
        raise ConnectionRefusedError("down")

    async def no_sleep(_: float) -> None:
        return None

    policy = RecoveryPolicy(resends=2)
    result = asyncio.run(
        with_retries(flaky, Retrier(policy, "resend", "t", audit=audit), sleep=no_sleep)
    )
    assert result == "up" and calls == 3
    with pytest.raises(GaveUp, match="after 3 attempt"):
        asyncio.run(
            with_retries(never, Retrier(policy, "resend", "t", audit=audit), sleep=no_sleep)
        )
    assert len(sink.events(AuditEvent.RETRY)) == 4
    assert len(sink.events(AuditEvent.GIVE_UP)) == 1


# -- over a real broker ---------------------------------------------------------------

PATIENT = RecoveryPolicy(base_delay=0.3, multiplier=2.0, max_delay=2.0, jitter=0.2)


class Pair:
    """A responder that echoes and an initiator whose app sends on demand."""

    def __init__(self, broker: Broker, parties: Parties, tag: str, policy: RecoveryPolicy) -> None:
        self.broker, self.parties, self.tag, self.policy = broker, parties, tag, policy
        self.topics = Topics("recovery")
        self.sink = MemorySink()
        self.audit = AuditLog(self.sink, clock=None)
        self.server_events: list[object] = []

    async def start_responder(self, *, resume: bool = False) -> None:
        self.r_conn = MqttConnection(
            self.broker.host,
            self.broker.port,
            f"r-{self.tag}",
            policy=self.policy,
            audit=self.audit,
            ack_timeout=1.0,
            resume=resume,
        )
        await self.r_conn.connect()
        self.responder = MqttResponder(
            self.r_conn, self.topics, "resp", self.parties.responder_factory()
        )
        await self.responder.open()
        self.server = asyncio.create_task(self._serve())

    async def _serve(self) -> None:
        async for channel, event in self.responder.events():
            self.server_events.append(event)
            if isinstance(event, ApplicationData) and channel is not None:
                channel.session.send(event.data, time.time())

    async def kill_responder(self) -> None:
        self.server.cancel()
        await self.r_conn.close()

    async def start_initiator(self, cid: bytes) -> None:
        self.i_conn = MqttConnection(
            self.broker.host,
            self.broker.port,
            f"i-{self.tag}-{cid.hex()}",
            policy=self.policy,
            audit=self.audit,
            ack_timeout=1.0,
        )
        await self.i_conn.connect()
        self.initiator = MqttInitiator(
            self.i_conn, self.topics, "init", "resp", self.parties.initiator(cid), cid
        )
        await self.initiator.open()
        self.client_events: asyncio.Queue[object] = asyncio.Queue()
        self.client = asyncio.create_task(self._client())

    async def _client(self) -> None:
        async for event in self.initiator.events():
            await self.client_events.put(event)

    async def expect(self, kind: type, timeout: float = 15) -> object:
        while True:
            event = await asyncio.wait_for(self.client_events.get(), timeout)
            if isinstance(event, kind):
                return event

    def send(self, data: bytes) -> None:
        self.initiator.channel.session.send(data, time.time())
        self.client_events.put_nowait("flush")  # wake nothing; flush happens on next event

    async def stop(self) -> None:
        for task in (getattr(self, "client", None), getattr(self, "server", None)):
            if task is not None:
                task.cancel()
        await self.i_conn.close()
        await self.r_conn.close()


async def _send(pair: Pair, data: bytes) -> None:
    pair.initiator.channel.session.send(data, time.time())
    await pair.initiator.flush(pair.initiator.channel)


@pytest.mark.network
def test_broker_restart_mid_session_loses_and_duplicates_nothing(
    own_mosquitto: Broker, default_parties: Parties
) -> None:
    """Broker restart: both clients reconnect (audited retries), the session continues."""

    async def scenario() -> Pair:
        pair = Pair(own_mosquitto, default_parties, os.urandom(3).hex(), PATIENT)
        await pair.start_responder()
        await pair.start_initiator(b"\x09")
        try:
            await pair.expect(HandshakeCompleted)
            await _send(pair, b"before restart")
            assert (await pair.expect(ApplicationData)).data == b"before restart"  # type: ignore[attr-defined]
            await asyncio.to_thread(own_mosquitto.restart, 0.3)
            await _send(pair, b"after restart")  # waits for PUBACK across the reconnect
            assert (await pair.expect(ApplicationData)).data == b"after restart"  # type: ignore[attr-defined]
        finally:
            await pair.stop()
        return pair

    pair = asyncio.run(asyncio.wait_for(scenario(), 40))
    received = [e.data for e in pair.server_events if isinstance(e, ApplicationData)]
    assert received == [b"before restart", b"after restart"]
    assert pair.i_conn.reconnects >= 1 and pair.r_conn.reconnects >= 1
    assert pair.sink.events(AuditEvent.RETRY)
    assert not pair.sink.events(AuditEvent.GIVE_UP)


@pytest.mark.network
def test_broker_gone_for_good_is_reported_not_silent(
    own_mosquitto: Broker, default_parties: Parties
) -> None:
    """When reconnects and resends are spent, the app gets DeliveryFailed and give_up is audited."""
    quick = RecoveryPolicy(connect_retries=2, resends=1, base_delay=0.05, max_delay=0.1)

    async def scenario() -> tuple[Pair, object]:
        pair = Pair(own_mosquitto, default_parties, os.urandom(3).hex(), quick)
        await pair.start_responder()
        await pair.start_initiator(b"\x0a")
        try:
            await pair.expect(HandshakeCompleted)
            await asyncio.to_thread(own_mosquitto.stop)
            await _send(pair, b"into the void")
            failure = pair.initiator.channel.events.pop(0)
        finally:
            await pair.stop()
        return pair, failure

    pair, failure = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert isinstance(failure, DeliveryFailed)
    assert failure.topic == "recovery/pqiot/v1/resp/rec"
    assert pair.sink.events(AuditEvent.GIVE_UP)


@pytest.mark.network
def test_peer_reboot_mid_session(own_mosquitto: Broker, default_parties: Parties) -> None:
    """A responder that reboots loses its session: records for it are reported and never
    accepted, an old record replayed later is dropped, and a new handshake recovers."""

    async def scenario() -> tuple[Pair, list[object]]:
        pair = Pair(own_mosquitto, default_parties, os.urandom(3).hex(), PATIENT)
        await pair.start_responder()
        await pair.start_initiator(b"\x0b")
        try:
            await pair.expect(HandshakeCompleted)
            session = pair.initiator.channel.session
            session.send(b"first", time.time())
            (old_record,) = session.data_to_send()
            await pair.i_conn.publish(pair.topics.rec("resp"), old_record[1:])
            await pair.expect(ApplicationData)
            await pair.kill_responder()  # reboot: all session state is gone
            await _send(pair, b"while rebooting")  # queued by the broker for the responder
            before = len(pair.server_events)
            await pair.start_responder(resume=True)
            rebooted_events = pair.server_events
            await asyncio.sleep(0.5)
            await pair.i_conn.publish(pair.topics.rec("resp"), old_record[1:])  # a replay
            await asyncio.sleep(0.5)
            after_reboot = rebooted_events[before:]
            pair.client.cancel()
            await pair.i_conn.close()
            await pair.start_initiator(b"\x0c")  # the application re-handshakes
            await pair.expect(HandshakeCompleted)
            await _send(pair, b"second session")
            assert (await pair.expect(ApplicationData)).data == b"second session"  # type: ignore[attr-defined]
        finally:
            await pair.stop()
        return pair, after_reboot

    pair, after_reboot = asyncio.run(asyncio.wait_for(scenario(), 40))
    received = [e.data for e in pair.server_events if isinstance(e, ApplicationData)]
    assert received == [b"first", b"second session"]
    dropped = [e for e in after_reboot if isinstance(e, BindingDropped | PayloadDropped)]
    assert len(dropped) == 2  # the queued record and the replayed one, both reported
    assert all(getattr(e, "alert", None) == "decrypt_failed" for e in dropped)
