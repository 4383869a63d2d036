"""``pqiot peer``: a reference PQC-IIoT endpoint over any binding, for either role.

Responder: ``pqiot peer --role responder --listen URL [--echo]``
Initiator: ``pqiot peer --role initiator --connect URL --send TEXT``

URL is one of ``tcp://HOST:PORT``; a serial port as pyserial names it
(``/dev/ttyUSB0``, ``serial:///dev/ttyUSB0?baud=115200&mtu=256``,
``socket://HOST:PORT``, ``rfc2217://HOST:PORT``); ``mqtt://HOST:PORT[/prefix]``
(with ``--party-id`` / ``--peer-id``); ``coap://HOST:PORT``.

Without ``--keystore`` both sides run in *demo mode*: an ephemeral identity
is generated for the run, credentials travel by value and peers are trusted
on first use. That is convenient and clearly not secure, so it is announced
on stderr every time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pqiot.cli.errors import CliError

if TYPE_CHECKING:
    from pqiot.transports.urls import TcpUrl

DEFAULT_TIMEOUT = 60.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "peer",
        help="run a reference endpoint (handshake + protected data) over TCP/serial/MQTT/CoAP",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--role", required=True, choices=("initiator", "responder"))
    parser.add_argument(
        "--listen", metavar="URL", help="responder: tcp://, serial port, mqtt:// or coap:// URL"
    )
    parser.add_argument(
        "--connect", metavar="URL", help="initiator: tcp://, serial port, mqtt:// or coap:// URL"
    )
    parser.add_argument("--send", metavar="TEXT", help="initiator: application data to send")
    parser.add_argument("--echo", action="store_true", help="responder: echo application data back")
    parser.add_argument(
        "--suite",
        action="append",
        default=None,
        metavar="S",
        help="cipher suite id or name; repeatable, most preferred first (default: -102)",
    )
    parser.add_argument(
        "--keystore",
        type=Path,
        help="directory with our identity (<name>.key/.cred) and keystore.json of trusted peers",
    )
    parser.add_argument("--identity", metavar="NAME", help="identity file stem inside --keystore")
    parser.add_argument(
        "--tofu", action="store_true", help="with --keystore: accept unknown peers on first use"
    )
    parser.add_argument(
        "--by-value",
        action="store_true",
        help="send our credential by value instead of by kid (the peer needs TOFU or a copy)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=0,
        metavar="N",
        help="responder: exit after N sessions (default: serve until interrupted)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="initiator: overall time limit (s)"
    )
    parser.add_argument(
        "--audit", metavar="FILE", help="write audit events as JSON lines ('-' = stderr)"
    )
    parser.add_argument(
        "--party-id",
        metavar="ID",
        help="MQTT: our party identifier in topic names (default: 'responder' for a "
        "responder, a random 'initiator-…' for an initiator)",
    )
    parser.add_argument(
        "--peer-id",
        metavar="ID",
        default="responder",
        help="MQTT initiator: the responder's party identifier (default: responder)",
    )
    parser.add_argument(
        "--mqtt-version",
        type=int,
        choices=(5, 311),
        default=5,
        help="MQTT protocol version: 5 (response topic + correlation data) or 311",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.role == "responder":
        if not args.listen or args.connect or args.send is not None:
            raise CliError("a responder needs --listen URL (and takes no --connect/--send)", 2)
    else:
        if not args.connect or args.send is None or args.listen or args.echo:
            raise CliError(
                "an initiator needs --connect URL and --send TEXT (no --listen/--echo)", 2
            )
    from pqiot.transports.urls import parse_peer_url

    url = args.listen if args.role == "responder" else args.connect
    try:
        parsed = parse_peer_url(url)
    except ValueError as exc:
        raise CliError(str(exc), 2) from exc
    endpoint = build_endpoint(args)
    try:
        if args.role == "responder":
            return asyncio.run(respond(endpoint, url, parsed, args))
        return asyncio.run(initiate(endpoint, url, parsed, args))
    except KeyboardInterrupt:
        return 130


async def respond(endpoint: Endpoint, url: str, parsed: Any, args: argparse.Namespace) -> int:
    """Serve sessions on the binding that ``parsed`` (a :mod:`pqiot.transports.urls` URL) names."""
    from pqiot.cli import peer_bindings as run_on
    from pqiot.transports.urls import CoapUrl, MqttUrl, TcpUrl

    if isinstance(parsed, TcpUrl):
        return await serve(endpoint, url, parsed, echo=args.echo, max_sessions=args.max_sessions)
    if isinstance(parsed, MqttUrl):
        return await run_on.serve_mqtt(
            endpoint,
            parsed,
            party_id=args.party_id or "responder",
            version=args.mqtt_version,
            echo=args.echo,
            max_sessions=args.max_sessions,
        )
    if isinstance(parsed, CoapUrl):
        return await run_on.serve_coap(
            endpoint, parsed, echo=args.echo, max_sessions=args.max_sessions
        )
    return await run_on.serve_serial(
        endpoint, parsed, echo=args.echo, max_sessions=args.max_sessions
    )


async def initiate(endpoint: Endpoint, url: str, parsed: Any, args: argparse.Namespace) -> int:
    """Handshake, send ``--send`` and print the echo, within ``--timeout``, on any binding."""
    from pqiot.cli import peer_bindings as run_on
    from pqiot.transports.urls import CoapUrl, MqttUrl, TcpUrl

    payload = str(args.send).encode()
    exchange: Coroutine[Any, Any, bytes | None]
    if isinstance(parsed, TcpUrl):
        exchange = connect(endpoint, url, parsed, payload)
    elif isinstance(parsed, MqttUrl):
        exchange = run_on.connect_mqtt(
            endpoint,
            parsed,
            payload,
            party_id=args.party_id or f"initiator-{os.urandom(4).hex()}",
            peer_id=args.peer_id,
            version=args.mqtt_version,
        )
    elif isinstance(parsed, CoapUrl):
        exchange = run_on.connect_coap(endpoint, parsed, payload)
    else:
        exchange = run_on.connect_serial(endpoint, parsed, payload)
    try:
        reply = await asyncio.wait_for(exchange, args.timeout)
    except TimeoutError:
        raise CliError(f"no complete exchange with {url} within {args.timeout:g} s") from None
    if reply is None:
        raise CliError(f"no echo from {url}")
    sys.stdout.write(reply.decode("utf-8", errors="replace") + "\n")
    sys.stdout.flush()
    return 0


# -- endpoint configuration -------------------------------------------------------


@dataclass
class Endpoint:
    """Everything needed to build one handshake config per connection."""

    role: str
    suites: tuple[int, ...]
    identity: Any  # pqiot.reference.identity.Identity
    provider: Any
    key: Any
    keystore: Any
    by_value: bool
    audit: Any

    def session(self, *, connection_id: bytes | None = None, binding_context: bytes = b"") -> Any:
        from pqiot.reference.edhoc.config import HandshakeConfig
        from pqiot.reference.edhoc.initiator import Initiator
        from pqiot.reference.edhoc.responder import Responder
        from pqiot.reference.session import Session
        from pqiot.reference.suites import METHOD_SIGNATURE

        config = HandshakeConfig(
            role=self.role,  # type: ignore[arg-type]
            method=METHOD_SIGNATURE,
            suites=self.suites,
            credential=self.identity.credential,
            key=self.key,
            provider=self.provider,
            resolver=self.keystore,
            send_credential_by_value=self.by_value,
            connection_id=connection_id,
        )
        handshake = Initiator(config) if self.role == "initiator" else Responder(config)
        return Session(handshake, audit=self.audit, binding_context=binding_context)


def parse_suites(values: list[str] | None) -> tuple[int, ...]:
    from pqiot.reference import suites as registry

    if not values:
        return (registry.DEFAULT_SUITE,)
    by_name = {suite.name.lower(): suite.id for suite in registry.all_suites()}
    chosen: list[int] = []
    for value in values:
        try:
            suite_id = int(value)
        except ValueError:
            suite_id = by_name.get(value.lower())  # type: ignore[assignment]
            if suite_id is None:
                raise CliError(f"unknown suite {value!r}; `pqiot suites` lists them", 2) from None
        try:
            registry.get(suite_id)
        except (KeyError, ValueError) as exc:
            raise CliError(f"unknown suite {value!r}; `pqiot suites` lists them", 2) from exc
        if suite_id not in chosen:
            chosen.append(suite_id)
    return tuple(chosen)


def build_endpoint(args: argparse.Namespace) -> Endpoint:
    from pqiot.reference import suites as registry
    from pqiot.reference.audit import AuditLog, FileSink
    from pqiot.reference.identity import (
        IdentityError,
        algorithm_by_id,
        generate_identity,
        load_identity,
    )
    from pqiot.reference.keystore import KeyStore, KeyStoreError
    from pqiot.reference.software_provider import SoftwareSecurityProvider
    from pqiot.reference.trust import kid_hex

    suites = parse_suites(args.suite)
    algs = {registry.get(s).signature_alg for s in suites}
    if len(algs) != 1:
        raise CliError(
            f"suites {list(suites)} use different signature algorithms; one identity serves "
            "one algorithm, so pick suites that share it (run one peer per algorithm)",
            2,
        )
    (alg,) = algs
    audit = None
    if args.audit == "-":
        audit = AuditLog(sys.stderr)
    elif args.audit:
        audit = AuditLog(FileSink(args.audit))
    try:
        if args.keystore is None:
            if args.identity or args.tofu:
                raise CliError("--identity and --tofu need --keystore", 2)
            algorithm = algorithm_by_id(alg)
            identity = generate_identity(algorithm.name, subject=f"demo-{args.role}")
            keystore = KeyStore(tofu=True, audit=audit)
            by_value = True
            print(
                f"pqiot peer: DEMO MODE - ephemeral {algorithm.name} identity "
                f"(kid {kid_hex(identity.kid)}), credentials sent by value, peers trusted on "
                "first use (TOFU). Use --keystore for real deployments.",
                file=sys.stderr,
            )
        else:
            identity = load_identity(args.keystore, _identity_name(args.keystore, args.identity))
            if identity.algorithm.cose_alg != alg:
                raise CliError(
                    f"identity {identity.algorithm.name} does not match the suites' signature "
                    f"algorithm {algorithm_by_id(alg).name}",
                    2,
                )
            keystore = KeyStore(args.keystore / "keystore.json", tofu=args.tofu, audit=audit)
            by_value = args.by_value
    except (IdentityError, KeyStoreError) as exc:
        raise CliError(str(exc), 2) from exc
    provider = SoftwareSecurityProvider()
    key = identity.install(provider)
    return Endpoint(args.role, suites, identity, provider, key, keystore, by_value, audit)


def _identity_name(directory: Path, name: str | None) -> str:
    if name:
        return str(name)
    candidates = sorted(p.stem for p in directory.glob("*.key"))
    if len(candidates) != 1:
        raise CliError(
            f"{directory} holds {len(candidates)} identities ({', '.join(candidates) or 'none'}); "
            "name one with --identity (create one with `pqiot keys generate`)",
            2,
        )
    return candidates[0]


# -- running: what every binding reports, in the same words ------------------------


def log(message: str) -> None:
    print(f"pqiot peer: {message}", file=sys.stderr, flush=True)


def describe(event: Any) -> str | None:
    """The line a user should see for a session event, or None for events not worth one."""
    from pqiot.reference.edhoc.events import ErrorReceived, HandshakeCompleted, HandshakeFailed
    from pqiot.reference.session import PayloadDropped

    if isinstance(event, HandshakeCompleted):
        return f"handshake completed, suite {event.suite_id}"
    if isinstance(event, HandshakeFailed):
        return f"handshake failed: {event.alert.value} {event.detail}".rstrip()
    if isinstance(event, ErrorReceived):
        return f"peer sent EDHOC error {event.err_code}: {event.err_info!r}"
    if isinstance(event, PayloadDropped):
        return f"dropped a payload: {event.alert.value} {event.detail}".rstrip()
    return None


def log_event(event: Any, binding: Callable[[Any], str | None] | None = None) -> None:
    """Log ``event`` if it is worth a line; ``binding`` describes a binding's own events."""
    text = (binding(event) if binding else None) or describe(event)
    if text:
        log(text)


def log_handshake(started: float, sent: int, received: int, detail: str = "") -> None:
    """Handshake time since ``started`` (``time.monotonic()``) and the bytes it moved."""
    log(
        f"handshake took {(time.monotonic() - started) * 1000:.1f} ms, "
        f"{sent} B sent, {received} B received{detail}"
    )


def log_received(session: Any, data: bytes, *, echo: bool, source: str = "") -> None:
    """A responder got application data: say so, and with ``echo`` send it back."""
    log(f"received {len(data)} bytes of application data{source}")
    if echo:
        session.send(data, time.time())


def is_completed(event: Any) -> bool:
    from pqiot.reference.edhoc.events import HandshakeCompleted

    return isinstance(event, HandshakeCompleted)


async def exchange(
    session: Any,
    events: AsyncIterator[Any],
    payload: bytes,
    started: float,
    traffic: Callable[[], tuple[int, int]],
) -> bytes | None:
    """An initiator's one exchange on a stream binding (TCP, serial): start the handshake,
    send ``payload`` once it completes, and close after the first application data,
    which is returned (None if the session ended without any). ``traffic`` gives the
    bytes sent and received so far, for the handshake line."""
    from pqiot.reference.session import ApplicationData

    session.start(time.time())
    reply: bytes | None = None
    async for event in events:
        log_event(event)
        if is_completed(event):
            log_handshake(started, *traffic())
            session.send(payload, time.time())
        elif isinstance(event, ApplicationData):
            reply = event.data
            session.close(time.time())
    return reply


# -- TCP ----------------------------------------------------------------------------


async def serve(
    endpoint: Endpoint, url: str, address: TcpUrl, *, echo: bool, max_sessions: int
) -> int:
    finished = asyncio.Event()
    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await run_responder_session(endpoint, reader, writer, echo=echo)
        served += 1
        if max_sessions and served >= max_sessions:
            finished.set()

    try:
        server = await asyncio.start_server(handle, address.host, address.port)
    except OSError as exc:
        raise CliError(f"cannot listen on {url}: {exc.strerror or exc}") from exc
    host, port = server.sockets[0].getsockname()[:2]
    log(f"listening on tcp://{host}:{port} (suites {list(endpoint.suites)})")
    async with server:
        await finished.wait() if max_sessions else await server.serve_forever()
    return 0


async def run_responder_session(
    endpoint: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, echo: bool
) -> None:
    from pqiot.reference.session import ApplicationData
    from pqiot.transports.tcp import SessionStream

    peer = writer.get_extra_info("peername")
    stream = SessionStream(endpoint.session(), reader, writer)
    log(f"connection from {peer}")
    async for event in stream.events():
        log_event(event)
        if isinstance(event, ApplicationData):
            log_received(stream.session, event.data, echo=echo)
    await stream.aclose()
    log(f"connection from {peer} closed ({stream.session.state.value})")


async def connect(endpoint: Endpoint, url: str, address: TcpUrl, payload: bytes) -> bytes:
    """Handshake over TCP, send ``payload`` and return the echo."""
    from pqiot.transports.recovery import GaveUp, RecoveryPolicy, Retrier, with_retries
    from pqiot.transports.tcp import SessionStream

    async def open_connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(address.host, address.port)

    # REQ-TCP-007: connection retries with backoff (default 3), audited.
    retrier = Retrier(RecoveryPolicy(), "connect", url, audit=endpoint.audit)
    try:
        reader, writer = await with_retries(open_connection, retrier)
    except GaveUp as exc:
        cause = exc.__cause__
        reason = getattr(cause, "strerror", None) or cause or exc
        raise CliError(f"cannot connect to {url} after {exc.attempts} attempts: {reason}") from exc
    started = time.monotonic()
    stream = SessionStream(endpoint.session(), reader, writer)
    reply = await exchange(
        stream.session,
        stream.events(),
        payload,
        started,
        lambda: (stream.bytes_sent, stream.bytes_received),
    )
    await stream.aclose()
    if reply is None:
        raise CliError(f"no echo from {url} (session {stream.session.state.value})")
    return reply
