"""``pqiot peer`` over serial, MQTT and CoAP (TCP stays in :mod:`pqiot.cli.peer_cmd`).

Each runner takes the configured :class:`~pqiot.cli.peer_cmd.Endpoint`, drives
one transport adapter and reports progress on stderr through the reporting helpers
of :mod:`pqiot.cli.peer_cmd` (the same words as the TCP runner), so scripts and
vendors see one behaviour for every binding.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

from pqiot.cli.errors import CliError
from pqiot.cli.peer_cmd import (
    Endpoint,
    exchange,
    is_completed,
    log,
    log_event,
    log_handshake,
    log_received,
)

if TYPE_CHECKING:
    from pqiot.transports.serial import SerialPort
    from pqiot.transports.urls import CoapUrl, MqttUrl, SerialUrl

#: The serial binding's binding context for the key schedule (one session per link).
SERIAL_BINDING_CONTEXT = b"\x00"


def _mqtt_event(event: Any) -> str | None:
    """The MQTT binding's own events: failed deliveries and dropped messages."""
    from pqiot.transports.mqtt import BindingDropped, DeliveryFailed

    if isinstance(event, DeliveryFailed):
        return f"delivery failed on {event.topic}: {event.reason}"
    if isinstance(event, BindingDropped):
        return f"dropped a message on {event.topic}: {event.alert} {event.detail}"
    return None


# -- serial ------------------------------------------------------------------------


async def _open_serial(url: SerialUrl) -> SerialPort:
    from pqiot.transports.serial import SerialPort

    try:
        return await SerialPort.open(url)
    except ConnectionError as exc:
        raise CliError(str(exc)) from exc


def _serial_session(endpoint: Endpoint) -> Any:
    return endpoint.session(binding_context=SERIAL_BINDING_CONTEXT)


async def serve_serial(endpoint: Endpoint, url: SerialUrl, *, echo: bool, max_sessions: int) -> int:
    """One session at a time on the link (REQ-SER-008); a new message_1 starts the next."""
    from pqiot.reference.session import ApplicationData
    from pqiot.transports.serial import SerialSession

    port = await _open_serial(url)
    log(f"listening on serial {url.port} (mtu {url.mtu}, suites {list(endpoint.suites)})")
    served = 0
    try:
        while not max_sessions or served < max_sessions:
            link = SerialSession(
                _serial_session(endpoint),
                port,
                mtu=url.mtu,
                new_session=lambda: _serial_session(endpoint),  # REQ-SER-008
            )
            async for event in link.events():
                log_event(event)
                if isinstance(event, ApplicationData):
                    log_received(link.session, event.data, echo=echo)
            await link.flush()
            served += 1
            log(f"session on {url.port} ended ({link.session.state.value})")
            if link.port_closed:
                break
    finally:
        await port.close()
    return 0


async def connect_serial(endpoint: Endpoint, url: SerialUrl, payload: bytes) -> bytes | None:
    from pqiot.transports.serial import SerialSession

    port = await _open_serial(url)
    link = SerialSession(_serial_session(endpoint), port, mtu=url.mtu)
    started = time.monotonic()
    try:
        return await exchange(
            link.session,
            link.events(),
            payload,
            started,
            lambda: (port.bytes_written, port.bytes_read),
        )
    finally:
        await link.aclose()


# -- MQTT ----------------------------------------------------------------------------


async def _mqtt_connection(url: MqttUrl, client_id: str, version: int, endpoint: Endpoint) -> Any:
    from pqiot.transports.mqtt_client import MqttConnection
    from pqiot.transports.recovery import GaveUp

    connection = MqttConnection(
        url.host, url.port, client_id, version=version, audit=endpoint.audit
    )
    try:
        await connection.connect()
    except GaveUp as exc:
        raise CliError(f"cannot connect to mqtt://{url.host}:{url.port}: {exc}") from exc
    return connection


async def serve_mqtt(
    endpoint: Endpoint,
    url: MqttUrl,
    *,
    party_id: str,
    version: int,
    echo: bool,
    max_sessions: int,
) -> int:
    from pqiot.reference.records.layer import SessionClosed
    from pqiot.reference.session import ApplicationData
    from pqiot.transports.mqtt import MqttResponder
    from pqiot.transports.mqtt_topics import Topics

    topics = Topics(url.prefix)
    connection = await _mqtt_connection(url, f"pqiot-{party_id}-{os.getpid()}", version, endpoint)
    responder = MqttResponder(
        connection, topics, party_id, lambda cid: endpoint.session(connection_id=cid)
    )
    await responder.open()
    log(
        f"listening on mqtt://{url.host}:{url.port}/{url.prefix} as {party_id} "
        f"(topic {topics.hs(party_id)}, suites {list(endpoint.suites)})"
    )
    served = 0
    try:
        async for channel, event in responder.events():
            log_event(event, _mqtt_event)
            if channel is None:
                continue
            if isinstance(event, ApplicationData):
                log_received(channel.session, event.data, echo=echo, source=f" from {channel.peer}")
            elif isinstance(event, SessionClosed) or channel.session.state.value == "failed":
                responder.forget(channel)
                served += 1
                log(f"session with {channel.peer} ended ({channel.session.state.value})")
                if max_sessions and served >= max_sessions:
                    break
    finally:
        await connection.close()
    return 0


async def connect_mqtt(
    endpoint: Endpoint,
    url: MqttUrl,
    payload: bytes,
    *,
    party_id: str,
    peer_id: str,
    version: int,
) -> bytes | None:
    from pqiot.reference.session import ApplicationData
    from pqiot.transports.mqtt import MqttInitiator
    from pqiot.transports.mqtt_topics import Topics

    topics = Topics(url.prefix)
    connection = await _mqtt_connection(url, f"pqiot-{party_id}", version, endpoint)
    cid = bytes([os.urandom(1)[0] % 24])  # a one-byte C_I (REQ-MQTT-009: one session here)
    initiator = MqttInitiator(
        connection, topics, party_id, peer_id, endpoint.session(connection_id=cid), cid
    )
    reply = None
    try:
        await initiator.open()
        started = time.monotonic()
        async for event in initiator.events():
            log_event(event, _mqtt_event)
            if is_completed(event):
                log_handshake(
                    started,
                    initiator.bytes_sent,
                    initiator.bytes_received,
                    " (PUBLISH payloads)",
                )
                initiator.channel.session.send(payload, time.time())
                await initiator.flush(initiator.channel)
            elif isinstance(event, ApplicationData):
                reply = event.data
                initiator.channel.session.close(time.time())
                await initiator.flush(initiator.channel)
                break
    finally:
        await connection.close()
    return reply


# -- CoAP ------------------------------------------------------------------------------


async def serve_coap(endpoint: Endpoint, url: CoapUrl, *, echo: bool, max_sessions: int) -> int:
    from aiocoap.numbers.codes import Code

    from pqiot.transports.coap import CoapServer, echo_handler

    finished = asyncio.Event()
    served = 0

    async def handler(path: tuple[str, ...], code: int, body: bytes) -> tuple[int, bytes]:
        nonlocal served
        if echo:
            answer = await echo_handler(path, code, body)
        elif path == ("echo",):
            answer = (int(Code.CHANGED), b"")
        else:
            answer = (int(Code.NOT_FOUND), b"")
        log(f"received {len(body)} bytes of application data on /{'/'.join(path)}")
        served += 1
        if max_sessions and served >= max_sessions:
            asyncio.get_running_loop().call_later(0.5, finished.set)
        return answer

    server = CoapServer(
        lambda cid: endpoint.session(connection_id=cid), handler=handler, on_event=log_event
    )
    try:
        await server.start(url.host, url.port)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot listen on coap://{url.host}:{url.port}: {exc}") from exc
    log(f"listening on coap://{url.host}:{url.port} (suites {list(endpoint.suites)})")
    try:
        if max_sessions:
            await finished.wait()
        else:
            await asyncio.Event().wait()
    finally:
        await server.stop()
    return 0


async def connect_coap(endpoint: Endpoint, url: CoapUrl, payload: bytes) -> bytes | None:
    import aiocoap
    from aiocoap.numbers.codes import Code

    from pqiot.transports.coap import CoapEdhocError, CoapInitiator

    context = await aiocoap.Context.create_client_context()
    try:
        initiator = CoapInitiator(
            context,
            f"coap://{url.host}:{url.port}",
            endpoint.session(),
            new_session=endpoint.session,  # REQ-COAP-009: new handshake at the threshold
        )
        started = time.monotonic()
        try:
            completed = await initiator.handshake()
        except CoapEdhocError as exc:
            for event in initiator.events:
                log_event(event)
            raise CliError(f"handshake with coap://{url.host}:{url.port} failed: {exc}") from exc
        except aiocoap.error.NetworkError as exc:
            raise CliError(f"cannot reach coap://{url.host}:{url.port}: {exc}") from exc
        for event in initiator.events:
            log_event(event)
        log_handshake(
            started,
            initiator.bytes_sent,
            initiator.bytes_received,
            f" (CoAP payloads), suite {completed.suite_id}",
        )
        code, body = await initiator.request("echo", payload)
        if code != Code.CHANGED:
            log(f"echo request answered {code}")
            return None
        return body
    finally:
        await context.shutdown()
