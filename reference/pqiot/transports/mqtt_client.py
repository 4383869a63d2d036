"""paho-mqtt (v2 callback API) driven by the asyncio event loop, with audited recovery.

paho's own network thread would reconnect on its own schedule and call back
from another thread; here its socket is registered with the event loop
instead (``on_socket_*`` callbacks), so every callback runs on the loop and
reconnects follow :class:`~pqiot.transports.recovery.RecoveryPolicy`.
All messages are QoS 1, RETAIN 0 (REQ-MQTT-003); the session at the broker
is persistent so that QoS 1 messages survive a broker restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from pqiot.reference.audit import AuditLog
from pqiot.transports.mqtt_topics import TopicError, check_topic_name
from pqiot.transports.recovery import GaveUp, RecoveryPolicy, Retrier

__all__ = ["MAX_PAYLOAD", "Incoming", "MqttConnection", "Rejected"]

#: REQ-MQTT-004: a PUBLISH payload is at most 64 KiB.
MAX_PAYLOAD = 65536
SESSION_EXPIRY_S = 3600
NO_MATCHING_SUBSCRIBERS = 0x10
KEEPALIVE_S = 30


@dataclass(frozen=True)
class Incoming:
    """A PUBLISH that passed the binding's checks."""

    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation: bytes | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class Rejected:
    """A PUBLISH the binding dropped before the protocol saw it (REQ-MQTT-002..004)."""

    topic: str
    alert: str
    detail: str


class MqttConnection:
    """One client connection to a broker; ``messages`` queues what arrives, checked."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        version: int = 5,
        policy: RecoveryPolicy | None = None,
        audit: AuditLog | None = None,
        ack_timeout: float = 5.0,
        resume: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``resume``: continue the broker-side session of ``client_id`` (after a reboot),
        so QoS 1 messages queued while we were away are delivered instead of discarded."""
        if version not in (5, 311):
            raise ValueError("MQTT version is 5 or 311")
        self.host, self.port, self.version = host, port, version
        self.policy = policy or RecoveryPolicy()
        self.audit = audit
        self.ack_timeout = ack_timeout
        self.resume = resume
        self._clock = clock
        protocol = MQTTProtocolVersion.MQTTv5 if version == 5 else MQTTProtocolVersion.MQTTv311
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            clean_session=None if version == 5 else False,
            reconnect_on_failure=False,
        )
        self._client.max_inflight_messages_set(100)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.messages: asyncio.Queue[Incoming | Rejected] = asyncio.Queue()
        self._acks: dict[int, asyncio.Future[int]] = {}
        self._subscriptions: list[str] = []
        self._subacks: dict[int, asyncio.Future[None]] = {}
        self._connack: asyncio.Future[None] | None = None
        self._misc: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()
        self.failed: GaveUp | None = None
        self.reconnects = 0
        self.reconnects_started = False
        self.bytes_published = 0
        self.bytes_received = 0
        self._install_callbacks()

    # -- lifecycle ------------------------------------------------------------

    async def connect(self) -> None:
        """Connect (retrying per policy; raises :class:`GaveUp`) and start serving the socket."""
        self._loop = asyncio.get_running_loop()
        self._misc = self._loop.create_task(self._misc_loop())
        await self._connect_with_retries(first=True)

    async def subscribe(self, *filters: str) -> None:
        self._subscriptions += [f for f in filters if f not in self._subscriptions]
        await self._subscribe(filters)

    async def _subscribe(self, filters: tuple[str, ...] | list[str]) -> None:
        for topic_filter in filters:
            result, mid = self._client.subscribe(topic_filter, qos=1)
            if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
                raise ConnectionError(f"cannot subscribe to {topic_filter}: {result}")
            future = self._running_loop().create_future()
            self._subacks[mid] = future
            await asyncio.wait_for(future, self.ack_timeout)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        expiry_s: int | None = None,
        require_subscriber: bool = True,
    ) -> None:
        """Publish with QoS 1 and wait for PUBACK, resending per policy (raises :class:`GaveUp`).

        A resend may duplicate a message the broker already has; the protocol
        tolerates that (handshake retransmission rules, record replay window).
        With MQTT 5 a PUBACK "no matching subscribers" (0x10) counts as a failed
        delivery when ``require_subscriber``: after a broker restart the peer may not
        have re-subscribed yet, and the message would otherwise vanish silently.
        """
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(
                f"message_too_large: {len(payload)}-byte payload exceeds the MQTT binding "
                f"limit of {MAX_PAYLOAD} bytes (REQ-MQTT-004)"
            )
        check_topic_name(topic)
        properties = None
        if self.version == 5:
            properties = Properties(PacketTypes.PUBLISH)
            properties.PayloadFormatIndicator = 0
            if expiry_s is not None:
                properties.MessageExpiryInterval = expiry_s
            if response_topic is not None:
                properties.ResponseTopic = response_topic
            if correlation is not None:
                properties.CorrelationData = correlation
        retrier = Retrier(self.policy, "resend", topic, audit=self.audit)
        while True:
            if self.failed is not None:
                raise self.failed
            info = self._client.publish(topic, payload, qos=1, retain=False, properties=properties)
            future = self._running_loop().create_future()
            self._acks[info.mid] = future
            self.bytes_published += len(payload)
            try:
                reason = await asyncio.wait_for(asyncio.shield(future), self.ack_timeout)
            except TimeoutError:
                reason = -1
            if reason == 0 or (reason == NO_MATCHING_SUBSCRIBERS and not require_subscriber):
                retrier.succeeded()
                return
            why = "no PUBACK" if reason < 0 else f"PUBACK reason 0x{reason:02x}"
            delay = retrier.failed(self._clock(), why)
            if delay is None:
                raise GaveUp("resend", topic, retrier.failures, why) from None
            await asyncio.sleep(delay)

    async def close(self) -> None:
        self._closing = True
        for task in (self._reconnector, self._misc):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(Exception):
            self._client.disconnect()
            self._client.loop_write()  # flush DISCONNECT now: the loop stops serving us
        self._teardown_socket()

    # -- connection management ------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("call connect() first")
        return self._loop

    async def _connect_with_retries(self, *, first: bool) -> None:
        retrier = Retrier(
            self.policy, "connect", f"mqtt://{self.host}:{self.port}", audit=self.audit
        )
        while True:
            try:
                await self._connect_once(first=first)
                return
            except (OSError, TimeoutError, ConnectionError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                delay = retrier.failed(self._clock(), reason)
                if delay is None:
                    self.failed = GaveUp("connect", retrier.target, retrier.failures, reason)
                    raise self.failed from exc
                await asyncio.sleep(delay)
            first = False

    async def _connect_once(self, *, first: bool) -> None:
        self._connack = self._running_loop().create_future()
        if first:
            properties = None
            if self.version == 5:
                properties = Properties(PacketTypes.CONNECT)
                properties.SessionExpiryInterval = SESSION_EXPIRY_S
            result = self._client.connect(
                self.host,
                self.port,
                KEEPALIVE_S,
                clean_start=False if self.resume else paho.MQTT_CLEAN_START_FIRST_ONLY,
                properties=properties,
            )
        else:
            result = self._client.reconnect()
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"connect failed: {result}")
        await asyncio.wait_for(self._connack, self.ack_timeout)

    def _reconnect_later(self) -> None:
        if self._closing or self._loop is None or self.failed is not None:
            return
        if self._reconnector is not None and not self._reconnector.done():
            return

        self.reconnects_started = True

        async def reconnect() -> None:
            # A restarted broker may not be listening yet: the policy's backoff covers that.
            with contextlib.suppress(GaveUp):
                await self._connect_with_retries(first=False)
                self.reconnects += 1

        self._reconnector = self._loop.create_task(reconnect())

    async def _misc_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._client.loop_misc() == MQTTErrorCode.MQTT_ERR_NO_CONN:
                self._teardown_socket()

    def _teardown_socket(self) -> None:
        sock = self._client.socket()
        if sock is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)

    # -- paho callbacks (all run on the event loop) -----------------------------

    def _install_callbacks(self) -> None:
        client = self._client
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._running_loop().add_reader(sock, self._read)
        with contextlib.suppress(OSError, AttributeError):
            # Handshake messages are a few kB each: without NODELAY, Nagle plus delayed
            # ACKs add ~40 ms per message.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _read(self) -> None:
        self._client.loop_read()

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._running_loop().remove_reader(sock)
        self._running_loop().remove_writer(sock)

    def _on_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._running_loop().add_writer(sock, self._client.loop_write)

    def _on_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._running_loop().remove_writer(sock)

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if self._connack is not None and not self._connack.done():
            if getattr(reason, "is_failure", False):
                self._connack.set_exception(ConnectionError(f"broker refused: {reason}"))
            else:
                self._connack.set_result(None)
        if not getattr(reason, "is_failure", False):
            self.connected.set()
            if not getattr(flags, "session_present", True) and self.reconnects_started:
                # The broker lost our session (restart without it): subscribe again.
                self._running_loop().create_task(self._subscribe(list(self._subscriptions)))

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.connected.clear()
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(ConnectionError(f"disconnected: {reason}"))
        self._reconnect_later()

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        future = self._acks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(int(getattr(reason, "value", 0)))

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        future = self._subacks.pop(mid, None)
        if future is not None and not future.done():
            if any(getattr(r, "is_failure", False) for r in reasons):
                future.set_exception(ConnectionError(f"subscription refused: {reasons}"))
            else:
                future.set_result(None)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        raw_topic = bytes(message._topic)  # the bytes on the wire, before paho decodes them
        self.bytes_received += len(message.payload)
        try:
            topic = check_topic_name(raw_topic)
        except TopicError as exc:
            shown = raw_topic.decode("utf-8", errors="replace")
            self.messages.put_nowait(Rejected(shown, "decode_error", str(exc)))
            return
        if message.retain:
            self.messages.put_nowait(Rejected(topic, "decode_error", "RETAIN set (REQ-MQTT-003)"))
            return
        if len(message.payload) > MAX_PAYLOAD:
            self.messages.put_nowait(
                Rejected(topic, "message_too_large", f"{len(message.payload)} bytes")
            )
            return
        props = message.properties if self.version == 5 else None
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        self.messages.put_nowait(
            Incoming(
                topic,
                bytes(message.payload),
                response_topic,
                bytes(correlation) if correlation is not None else None,
                bool(message.dup),
            )
        )
