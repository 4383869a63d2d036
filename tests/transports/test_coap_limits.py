"""OSCORE usage limits on the CoAP binding (REQ-COAP-009, spec §7.9), with injected small limits.

The spec values (q = 2^20, threshold 943,719) would need a million requests; the binding
takes ``limits`` as a parameter (default: the §7.9 table for the suite's AEAD), so these
tests run the same code paths with q = 10 (threshold 10 - 1 = 9) and v = 4.
"""

from __future__ import annotations

import os

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from pqiot.reference.oscore.nonce import piv_from_int
from pqiot.reference.oscore.option import OscoreOption, encode_option
from pqiot.reference.records.limits import UsageLimits, limits_for
from pqiot.transports.coap import CoapInitiator, CoapServer, UsageLimitReached

from .conftest import Parties
from .test_coap import free_udp_port, run

SMALL = UsageLimits(q=10, v=4, max_message_bytes=16384)


def test_the_default_limits_are_the_spec_table(default_parties: Parties) -> None:
    """§7.9: without an override both ends use limit_q 2^20 and threshold 943,719."""

    async def scenario() -> tuple[UsageLimits | None, UsageLimits, int]:
        port = free_udp_port()
        server = CoapServer(default_parties.responder_factory())
        await server.start("127.0.0.1", port)
        client = await aiocoap.Context.create_client_context()
        try:
            initiator = CoapInitiator(
                client, f"coap://127.0.0.1:{port}", default_parties.initiator()
            )
            await initiator.handshake()
            (entry,) = server.contexts.values()
            return initiator.limits, entry.limits, entry.security.aead.cose_alg
        finally:
            await client.shutdown()
            await server.stop()

    client_limits, server_limits, aead = run(scenario)
    assert client_limits == server_limits == limits_for(aead)
    assert client_limits is not None and client_limits.q == 1 << 20
    assert client_limits.key_update_threshold == 943_719


def test_client_runs_a_new_handshake_at_the_key_update_threshold(default_parties: Parties) -> None:
    """REQ-COAP-009 / REQ-KU-010: when count_q reaches q - q//10 the client runs a new EDHOC
    handshake and continues with the new context; nothing is lost or repeated."""
    seen: list[bytes] = []

    async def handler(path: tuple[str, ...], code: int, payload: bytes) -> tuple[int, bytes]:
        seen.append(payload)
        return int(Code.CHANGED), payload

    async def scenario() -> tuple[list[tuple[Code, bytes]], list[int], CoapServer, CoapInitiator]:
        port = free_udp_port()
        server = CoapServer(default_parties.responder_factory(), handler=handler, limits=SMALL)
        await server.start("127.0.0.1", port)
        client = await aiocoap.Context.create_client_context()
        try:
            initiator = CoapInitiator(
                client,
                f"coap://127.0.0.1:{port}",
                default_parties.initiator(),
                new_session=default_parties.initiator,
                limits=SMALL,
            )
            await initiator.handshake()
            answers, handshakes = [], []
            for i in range(12):
                answers.append(await initiator.request("echo", b"%d" % i))
                handshakes.append(initiator.handshakes)
            return answers, handshakes, server, initiator
        finally:
            await client.shutdown()
            await server.stop()

    answers, handshakes, server, initiator = run(scenario)
    assert answers == [(Code.CHANGED, b"%d" % i) for i in range(12)]
    # requests 1..9 use the first key (count_q 9 = threshold); request 10 starts a handshake
    assert handshakes == [1] * 9 + [2] * 3
    assert len(server.completed) == 2
    first, second = (server.contexts[c.c_r] for c in server.completed)
    assert (first.count_q, second.count_q) == (9, 3)
    assert initiator.count_q == 3
    assert seen == [b"%d" % i for i in range(12)]


def test_client_never_encrypts_at_limit_q(default_parties: Parties) -> None:
    """REQ-KU-011: without a way to run a new handshake the client protects exactly limit_q
    requests with a key and then refuses, before anything is sent."""

    async def scenario() -> tuple[int, int, int]:
        port = free_udp_port()
        server = CoapServer(default_parties.responder_factory(), limits=SMALL)
        await server.start("127.0.0.1", port)
        client = await aiocoap.Context.create_client_context()
        try:
            initiator = CoapInitiator(
                client, f"coap://127.0.0.1:{port}", default_parties.initiator(), limits=SMALL
            )
            await initiator.handshake()
            for _ in range(SMALL.q):
                assert await initiator.request("echo", b"x") == (Code.CHANGED, b"x")
            sent = initiator.bytes_sent
            with pytest.raises(UsageLimitReached, match="limit_q"):
                await initiator.request("echo", b"x")
            (entry,) = server.contexts.values()
            return initiator.count_q, initiator.bytes_sent - sent, entry.count_q
        finally:
            await client.shutdown()
            await server.stop()

    assert run(scenario) == (SMALL.q, 0, SMALL.q)


def test_server_stops_encrypting_at_limit_q_and_discards_the_context(
    default_parties: Parties,
) -> None:
    """REQ-COAP-009 at the server: a sender key that protected limit_q responses is dropped;
    the next request gets 4.01 "Security context not found" and a new handshake recovers."""
    server_limits = UsageLimits(q=5, v=4, max_message_bytes=16384)

    async def scenario() -> tuple[list[tuple[Code, bytes]], CoapServer]:
        port = free_udp_port()
        server = CoapServer(default_parties.responder_factory(), limits=server_limits)
        await server.start("127.0.0.1", port)
        client = await aiocoap.Context.create_client_context()
        try:
            initiator = CoapInitiator(
                client, f"coap://127.0.0.1:{port}", default_parties.initiator()
            )
            await initiator.handshake()
            answers = [await initiator.request("echo", b"x") for _ in range(6)]
            initiator.session = default_parties.initiator()
            await initiator.handshake()
            answers.append(await initiator.request("echo", b"y"))
            return answers, server
        finally:
            await client.shutdown()
            await server.stop()

    answers, server = run(scenario)
    assert answers[:5] == [(Code.CHANGED, b"x")] * 5
    assert answers[5] == (Code.UNAUTHORIZED, b"Security context not found")
    assert answers[6] == (Code.CHANGED, b"y")
    assert [reason for _, reason in server.discarded] == ["limit_q"]


def test_server_discards_a_context_whose_recipient_key_reached_limit_v(
    default_parties: Parties,
) -> None:
    """REQ-KU-012 per OSCORE recipient key: limit_v forged requests end the context."""

    async def scenario() -> tuple[list[aiocoap.Message], tuple[Code, bytes], CoapServer]:
        port = free_udp_port()
        uri = f"coap://127.0.0.1:{port}"
        server = CoapServer(default_parties.responder_factory(), limits=SMALL)
        await server.start("127.0.0.1", port)
        client = await aiocoap.Context.create_client_context()
        try:
            initiator = CoapInitiator(client, uri, default_parties.initiator())
            await initiator.handshake()
            assert initiator.oscore is not None
            kid = initiator.oscore.sender_id
            forged = []
            for piv in range(100, 100 + SMALL.v):
                message = aiocoap.Message(code=Code.POST, uri=uri, payload=os.urandom(24))
                message.opt.oscore = encode_option(OscoreOption(piv=piv_from_int(piv), kid=kid))
                forged.append(await client.request(message).response)
            answer = await initiator.request("echo", b"legit")
            return forged, answer, server
        finally:
            await client.shutdown()
            await server.stop()

    forged, answer, server = run(scenario)
    assert [(m.code, m.payload) for m in forged] == [(Code.UNAUTHORIZED, b"Decryption failed")] * 4
    assert answer == (Code.UNAUTHORIZED, b"Security context not found")
    assert [reason for _, reason in server.discarded] == ["limit_v"]


def test_client_drops_its_context_after_limit_v_forged_responses(default_parties: Parties) -> None:
    """REQ-KU-012 at the client: responses that fail verification count against limit_v; at
    the limit the context is gone and, with a session factory, the next request re-keys."""
    from pqiot.reference.errors import ProtocolError
    from pqiot.reference.oscore.coap import CoapMessage, MessageType
    from pqiot.reference.oscore.protect import protect_request

    async def scenario() -> tuple[int, bool, tuple[Code, bytes], int]:
        port = free_udp_port()
        server = CoapServer(default_parties.responder_factory())
        await server.start("127.0.0.1", port)
        client = await aiocoap.Context.create_client_context()
        try:
            initiator = CoapInitiator(
                client,
                f"coap://127.0.0.1:{port}",
                default_parties.initiator(),
                new_session=default_parties.initiator,
                limits=SMALL,
            )
            await initiator.handshake()
            security = initiator.oscore
            assert security is not None
            plain = CoapMessage(MessageType.CON, int(Code.POST), 0, b"", (), b"")
            for ssn in range(SMALL.v):
                _, binding = protect_request(security, plain, 1000 + ssn)
                forged = aiocoap.Message(code=Code.CHANGED, payload=os.urandom(24))
                forged.opt.oscore = b""
                with pytest.raises(ProtocolError):
                    initiator._open(security, forged, binding)
            count_v, dropped = initiator.count_v, initiator.oscore is None
            answer = await initiator.request("echo", b"again")
            return count_v, dropped, answer, initiator.handshakes
        finally:
            await client.shutdown()
            await server.stop()

    assert run(scenario) == (SMALL.v, True, (Code.CHANGED, b"again"), 2)
