"""MQTT binding (spec §12.3): handshakes on per-party topics, records as payloads.

No protocol logic lives here: a :class:`~pqiot.reference.session.Session`
does the work; this module only chooses topics, adds the §12.3.2 payload
prefixes, demultiplexes by Correlation Data / connection identifier / kid,
and binds the record topic into the AAD (REQ-MQTT-008). QoS 1 duplicates are
harmless by construction: a repeated handshake message is answered as a
retransmission (REQ-HS-038) and a repeated record fails the replay window.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from pqiot.reference import cbor
from pqiot.reference.audit import AuditLog
from pqiot.reference.edhoc.messages import decode_message_1
from pqiot.reference.edhoc.wire import decode_connection_id, encode_connection_id
from pqiot.reference.errors import DecodeError, ProtocolError
from pqiot.reference.pubsub import MessageVerifier, VerifiedMessage, sign_message
from pqiot.reference.records.layer import RecordLayer
from pqiot.reference.records.record import decode_record
from pqiot.reference.session import KIND_HANDSHAKE, KIND_RECORD, Session, SessionEvent
from pqiot.transports.connection_ids import initiator_c_r
from pqiot.transports.mqtt_client import Incoming, MqttConnection, Rejected
from pqiot.transports.mqtt_topics import TopicError, Topics
from pqiot.transports.recovery import GaveUp

__all__ = [
    "BindingDropped",
    "DeliveryFailed",
    "MqttChannel",
    "MqttInitiator",
    "MqttResponder",
    "SignedPublisher",
    "SignedSubscriber",
    "bind_record_topics",
]

CORRELATION_LENGTH = 16
HANDSHAKE_EXPIRY_S = 30  # REQ-MQTT-010: the handshake state timer
_TRUE = b"\xf5"


@dataclass(frozen=True)
class DeliveryFailed:
    """A message could not be delivered after all resends: the application must know."""

    topic: str
    reason: str


@dataclass(frozen=True)
class BindingDropped:
    """The binding dropped a PUBLISH before any session saw it (REQ-MQTT-002..006)."""

    topic: str
    alert: str
    detail: str


ChannelEvent = SessionEvent | DeliveryFailed | BindingDropped


def bind_record_topics(records: RecordLayer, send_topic: str, receive_topic: str) -> None:
    """REQ-MQTT-008: seal with the topic we publish on, open with the topic we receive on."""
    records.set_binding_contexts(send_topic.encode(), receive_topic.encode())


@dataclass
class MqttChannel:
    """One session plus its MQTT addressing."""

    session: Session
    role: str
    me: str
    peer: str
    own_cid: bytes
    correlation: bytes | None
    reply_topic: str | None = None  # responder: where replies go
    peer_cid: bytes = b""  # responder: C_I, the prefix of MQTT 3.1.1 replies
    last_in: bytes | None = None  # last handshake message accepted (REQ-HS-038)
    last_out: list[bytes] = field(default_factory=list)  # and what we answered
    resend: list[bytes] = field(default_factory=list)
    sent_first: bool = False
    bound: bool = False
    events: list[ChannelEvent] = field(default_factory=list)


class _Binding:
    """What both roles share: the connection, topic tree and the publish loop."""

    def __init__(
        self,
        connection: MqttConnection,
        topics: Topics,
        me: str,
        *,
        clock: Callable[[], float] = time.time,
        audit: AuditLog | None = None,
    ) -> None:
        self.connection = connection
        self.topics = topics
        self.me = me
        self._clock = clock
        self.audit = audit
        self.bytes_sent = 0
        self.bytes_received = 0

    @property
    def version(self) -> int:
        return self.connection.version

    async def _publish(
        self, channel: MqttChannel, topic: str, payload: bytes, **options: Any
    ) -> None:
        try:
            await self.connection.publish(topic, payload, **options)
            self.bytes_sent += len(payload)
        except (GaveUp, ValueError) as exc:
            channel.events.append(DeliveryFailed(topic, str(exc)))

    def _bind(self, channel: MqttChannel) -> None:
        records = channel.session.records
        if records is not None and not channel.bound:
            bind_record_topics(records, self.topics.rec(channel.peer), self.topics.rec(self.me))
            channel.bound = True

    async def flush(self, channel: MqttChannel) -> None:
        """Publish everything the session queued, with the §12.3.2 framing."""
        self._bind(channel)
        fresh = channel.session.data_to_send()
        channel.last_out += [p for p in fresh if p[0] == KIND_HANDSHAKE]
        payloads, channel.resend = channel.resend + fresh, []
        for payload in payloads:
            kind, body = payload[0], payload[1:]
            if kind == KIND_RECORD:
                await self._publish(channel, self.topics.rec(channel.peer), body)
            elif kind == KIND_HANDSHAKE:
                await self._publish_handshake(channel, body)

    async def _publish_handshake(self, channel: MqttChannel, message: bytes) -> None:
        raise NotImplementedError

    def _deliver(self, channel: MqttChannel, payload: bytes) -> None:
        if payload[:1] == bytes([KIND_HANDSHAKE]):
            if payload == channel.last_in:
                # A QoS 1 duplicate: answer as a retransmission (REQ-HS-038) without
                # letting the handshake see the message twice.
                channel.resend += channel.last_out
                return
            channel.last_in, channel.last_out = payload, []
        channel.session.receive(payload, self._clock())
        self._bind(channel)
        while (event := channel.session.next_event()) is not None:
            channel.events.append(event)


class MqttInitiator(_Binding):
    """Initiator side: one session towards ``responder``; :meth:`events` drives it."""

    def __init__(
        self,
        connection: MqttConnection,
        topics: Topics,
        me: str,
        responder: str,
        session: Session,
        own_cid: bytes,
        **kwargs: Any,
    ) -> None:
        super().__init__(connection, topics, me, **kwargs)
        correlation = os.urandom(CORRELATION_LENGTH) if connection.version == 5 else None
        self.channel = MqttChannel(session, "initiator", me, responder, own_cid, correlation)

    async def open(self) -> None:
        await self.connection.subscribe(self.topics.hsr(self.me), self.topics.rec(self.me))

    async def _publish_handshake(self, channel: MqttChannel, message: bytes) -> None:
        topic = self.topics.hs(channel.peer)
        if not channel.sent_first:
            channel.sent_first = True
            prefix = _TRUE if self.version == 5 else cbor.encode(self.me)
            payload = prefix + message
        else:
            c_r = initiator_c_r(channel.session)
            if c_r is None:
                return  # nothing identifies the session at the responder: stay silent
            payload = encode_connection_id(c_r) + message
        if self.version == 5:
            await self._publish(
                channel,
                topic,
                payload,
                response_topic=self.topics.hsr(self.me),
                correlation=channel.correlation,
                expiry_s=HANDSHAKE_EXPIRY_S,
            )
        else:
            await self._publish(channel, topic, payload)

    def _accept(self, message: Incoming) -> None:
        channel = self.channel
        if message.topic == self.topics.hsr(self.me):
            body = message.payload
            if self.version == 5:
                if message.correlation != channel.correlation:
                    return  # another session's reply
            else:
                try:
                    decoder = cbor.Decoder(body)
                    c_i = decode_connection_id(decoder.read(), "C_I")
                except DecodeError:
                    channel.events.append(BindingDropped(message.topic, "decode_error", "no C_I"))
                    return
                if c_i != channel.own_cid:
                    return
                body = body[decoder.position :]
            self._deliver(channel, bytes([KIND_HANDSHAKE]) + body)
        elif message.topic == self.topics.rec(self.me):
            self._deliver(channel, bytes([KIND_RECORD]) + message.payload)

    async def events(self, *, start: bool = True) -> AsyncIterator[ChannelEvent]:
        """Start the handshake and yield events until the session ends."""
        channel, session = self.channel, self.channel.session
        if start:
            session.start(self._clock())
        while True:
            await self.flush(channel)
            while channel.events:
                yield channel.events.pop(0)
                await self.flush(channel)
            if session.state.value in ("closed", "failed"):
                return
            deadline = session.timer_deadline
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            try:
                item = await asyncio.wait_for(self.connection.messages.get(), timeout)
            except TimeoutError:
                session.handle_timer(self._clock())
                while (event := session.next_event()) is not None:
                    channel.events.append(event)
                continue
            if isinstance(item, Rejected):
                channel.events.append(BindingDropped(item.topic, item.alert, item.detail))
                continue
            self.bytes_received += len(item.payload)
            self._accept(item)


class MqttResponder(_Binding):
    """Responder side: serves every initiator that publishes on our ``…/hs`` topic.

    ``session_factory(c_r)`` builds a responder Session whose handshake uses
    the connection identifier ``c_r`` (unique per session, REQ-MQTT-009).
    """

    def __init__(
        self,
        connection: MqttConnection,
        topics: Topics,
        me: str,
        session_factory: Callable[[bytes], Session],
        **kwargs: Any,
    ) -> None:
        super().__init__(connection, topics, me, **kwargs)
        self._factory = session_factory
        self._by_cid: dict[bytes, MqttChannel] = {}
        self._by_message_1: dict[tuple[str, bytes], MqttChannel] = {}
        self._next_cid = 0x0100
        self._orphans: list[BindingDropped] = []

    @property
    def channels(self) -> list[MqttChannel]:
        return list(self._by_cid.values())

    async def open(self) -> None:
        await self.connection.subscribe(self.topics.hs(self.me), self.topics.rec(self.me))

    def _allocate_cid(self, avoid: bytes) -> bytes:
        while True:
            cid = self._next_cid.to_bytes(2, "big")
            self._next_cid = 0x0100 if self._next_cid == 0xFFFF else self._next_cid + 1
            if cid != avoid and cid not in self._by_cid:
                return cid

    async def _publish_handshake(self, channel: MqttChannel, message: bytes) -> None:
        assert channel.reply_topic is not None
        if self.version == 5:
            await self._publish(
                channel,
                channel.reply_topic,
                message,
                correlation=channel.correlation,
                expiry_s=HANDSHAKE_EXPIRY_S,
            )
        else:
            payload = encode_connection_id(channel.peer_cid) + message
            await self._publish(channel, channel.reply_topic, payload)

    def _drop(self, topic: str, alert: str, detail: str) -> MqttChannel | None:
        self._orphans.append(BindingDropped(topic, alert, detail))
        return None

    def _accept(self, message: Incoming) -> MqttChannel | None:
        if message.topic == self.topics.hs(self.me):
            return self._accept_handshake(message)
        if message.topic == self.topics.rec(self.me):
            try:
                kid = decode_record(message.payload).kid
            except ProtocolError as exc:
                return self._drop(message.topic, exc.alert.value, exc.detail)
            channel = self._by_cid.get(kid)
            if channel is None:
                return self._drop(message.topic, "decrypt_failed", "no session for this kid")
            self._deliver(channel, bytes([KIND_RECORD]) + message.payload)
            return channel
        return self._drop(message.topic, "decode_error", "not a topic we subscribed to")

    def _accept_handshake(self, message: Incoming) -> MqttChannel | None:
        topic, body = message.topic, message.payload
        try:
            decoder = cbor.Decoder(body)
            first = decoder.read()
        except DecodeError as exc:
            return self._drop(topic, "decode_error", str(exc))
        rest = body[decoder.position :]
        is_message_1 = first is True if self.version == 5 else isinstance(first, str)
        if not is_message_1:
            try:
                c_r = decode_connection_id(first, "C_R")
            except DecodeError as exc:
                return self._drop(topic, "decode_error", str(exc))
            channel = self._by_cid.get(c_r)
            if channel is None or (
                self.version == 5 and message.correlation != channel.correlation
            ):
                return self._drop(topic, "unexpected_message", "no session for this C_R")
            self._deliver(channel, bytes([KIND_HANDSHAKE]) + rest)
            return channel
        if self.version == 5:
            try:
                initiator = self.topics.parse_party_topic(message.response_topic or "", "hsr")
            except TopicError as exc:  # REQ-MQTT-006
                return self._drop(topic, "decode_error", f"bad Response Topic: {exc}")
            if message.correlation is None or len(message.correlation) > 64:
                return self._drop(topic, "decode_error", "missing or oversized Correlation Data")
            reply_topic = self.topics.hsr(initiator)
        else:
            try:
                initiator = first if isinstance(first, str) else ""
                reply_topic = self.topics.hsr(initiator)  # REQ-MQTT-007
            except TopicError as exc:
                return self._drop(topic, "decode_error", f"bad initiator id: {exc}")
        key = (initiator, hashlib.sha256(rest).digest())
        channel = self._by_message_1.get(key)
        if channel is None:
            try:
                c_i = decode_message_1(rest).c_i
            except ProtocolError as exc:
                return self._drop(topic, exc.alert.value, exc.detail)
            cid = self._allocate_cid(avoid=c_i)
            channel = MqttChannel(
                self._factory(cid), "responder", self.me, initiator, cid, message.correlation
            )
            channel.reply_topic = reply_topic
            channel.peer_cid = c_i
            self._by_cid[cid] = channel
            self._by_message_1[key] = channel
        # A duplicate (QoS 1 redelivery) reaches the same session: REQ-HS-038 resends message_2.
        self._deliver(channel, bytes([KIND_HANDSHAKE]) + rest)
        return channel

    def forget(self, channel: MqttChannel) -> None:
        """Drop a finished session's state."""
        self._by_cid.pop(channel.own_cid, None)
        for key, value in list(self._by_message_1.items()):
            if value is channel:
                del self._by_message_1[key]

    async def events(self) -> AsyncIterator[tuple[MqttChannel | None, ChannelEvent]]:
        """Serve forever, yielding ``(channel, event)``; ``channel`` is None for orphan drops."""
        while True:
            for channel in self.channels:
                await self.flush(channel)
                while channel.events:
                    yield channel, channel.events.pop(0)
                    await self.flush(channel)
            while self._orphans:
                yield None, self._orphans.pop(0)
            deadlines = [d for c in self.channels if (d := c.session.timer_deadline) is not None]
            timeout = None if not deadlines else max(0.0, min(deadlines) - self._clock())
            try:
                item = await asyncio.wait_for(self.connection.messages.get(), timeout)
            except TimeoutError:
                now = self._clock()
                for channel in self.channels:
                    deadline = channel.session.timer_deadline
                    if deadline is not None and now >= deadline:
                        channel.session.handle_timer(now)
                        self._deliver_events(channel)
                continue
            if isinstance(item, Rejected):
                self._orphans.append(BindingDropped(item.topic, item.alert, item.detail))
                continue
            self.bytes_received += len(item.payload)
            self._accept(item)

    def _deliver_events(self, channel: MqttChannel) -> None:
        while (event := channel.session.next_event()) is not None:
            channel.events.append(event)


class SignedPublisher:
    """Publishes signed messages (chapter 8) on ``<prefix>/pqiot/v1/ps/<app-levels>``."""

    def __init__(
        self,
        connection: MqttConnection,
        topics: Topics,
        *,
        provider: Any,
        key_ref: Any,
        kid: bytes | int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connection, self.topics = connection, topics
        self.provider, self.key_ref, self.kid = provider, key_ref, kid
        self._clock = clock
        self._seq: dict[str, int] = {}

    async def publish(self, app_levels: str, content: bytes) -> int:
        """Sign and publish; returns the sequence number used."""
        topic = self.topics.pubsub(app_levels)
        seq = self._seq.get(topic, 0)
        self._seq[topic] = seq + 1
        message = sign_message(
            self.provider, self.key_ref, self.kid, topic, seq, int(self._clock() * 1000), content
        )
        await self.connection.publish(topic, message, require_subscriber=False)
        return seq


class SignedSubscriber:
    """Receives and verifies signed messages; yields verified ones and drop notices."""

    def __init__(
        self,
        connection: MqttConnection,
        topics: Topics,
        verifier: MessageVerifier,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connection, self.topics, self.verifier = connection, topics, verifier
        self._clock = clock

    async def open(self) -> None:
        await self.connection.subscribe(self.topics.pubsub_filter())

    async def next(self) -> VerifiedMessage | BindingDropped:
        item = await self.connection.messages.get()
        if isinstance(item, Rejected):
            return BindingDropped(item.topic, item.alert, item.detail)
        try:
            return self.verifier.verify(item.payload, item.topic, self._clock())
        except ProtocolError as exc:
            return BindingDropped(item.topic, exc.alert.value, exc.detail)
