"""Block1 reassembly state lives as long as the handshake state timer (REQ-COAP-004).

aiocoap alone keeps an incomplete Block1 upload for MAX_TRANSMIT_WAIT (93 s), refreshed by
every block; the spec says the state is discarded after the state timer (30 s by default,
chapter 5 §5.12), which the server takes as ``block1_timeout``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiocoap
import pytest
from aiocoap.blockwise import ContinueException, IncompleteException
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption

from pqiot.transports.coap import CoapServer
from pqiot.transports.coap_block1 import DEFAULT_BLOCK1_TIMEOUT, Block1Spool

from .conftest import Parties
from .test_coap import free_udp_port, run


def block(number: int, more: bool, payload: bytes, uri: str = "coap://h/x") -> aiocoap.Message:
    message = aiocoap.Message(code=Code.POST, uri=uri, payload=payload)
    message.opt.block1 = BlockOption.BlockwiseTuple(number, more, 0)  # SZX 0: 16-byte blocks
    return message


@dataclass(frozen=True)
class _Remote:
    blockwise_key: object = ("peer", 1)


def test_the_default_block1_timeout_is_the_handshake_state_timer(default_parties: Parties) -> None:
    """REQ-COAP-004 with REQ-HS-037: 30 s unless configured; it follows state_timeout."""
    assert DEFAULT_BLOCK1_TIMEOUT == 30.0
    assert CoapServer(default_parties.responder_factory()).block1_timeout == 30.0
    assert CoapServer(default_parties.responder_factory(), state_timeout=12).block1_timeout == 12
    server = CoapServer(default_parties.responder_factory(), block1_timeout=0.5)
    assert server.block1_timeout == 0.5


def test_spool_forgets_an_upload_timeout_after_its_first_block() -> None:
    """Blocks every 10 s do not keep an upload alive past 30 s (aiocoap's spool would)."""
    now = [0.0]
    spool = Block1Spool(30.0, clock=lambda: now[0])

    def feed(number: int, more: bool, payload: bytes) -> aiocoap.Message:
        message = block(number, more, payload)
        message.remote = _Remote()
        return spool.feed(message)

    for number, at in enumerate((0.0, 10.0, 20.0)):
        now[0] = at
        with pytest.raises(ContinueException):
            feed(number, True, bytes([number]) * 16)
    now[0] = 30.5
    with pytest.raises(IncompleteException):
        feed(3, False, b"end")
    assert len(spool) == 0 and spool.expired == 1
    # the same upload within the timer reassembles in order
    now[0] = 100.0
    with pytest.raises(ContinueException):
        feed(0, True, b"a" * 16)
    with pytest.raises(IncompleteException):  # out of order: block 2 before block 1
        feed(2, False, b"c")
    with pytest.raises(ContinueException):
        feed(0, True, b"a" * 16)
    with pytest.raises(ContinueException):
        feed(1, True, b"b" * 16)
    assert feed(2, False, b"c").payload == b"a" * 16 + b"b" * 16 + b"c"


def test_server_answers_4_08_after_a_short_configured_block1_timeout(
    default_parties: Parties,
) -> None:
    """REQ-COAP-004 on the wire: with block1_timeout = 0.3 s, a Block1 upload to the EDHOC
    resource that stalls for 0.6 s gets 4.08 Request Entity Incomplete; the same upload
    without the stall is reassembled and reaches the handshake (which rejects the garbage)."""

    async def scenario() -> tuple[list[Code], list[Code]]:
        port = free_udp_port()
        edhoc = f"coap://127.0.0.1:{port}/.well-known/edhoc"
        server = CoapServer(default_parties.responder_factory(), block1_timeout=0.3)
        await server.start("127.0.0.1", port)
        client = await aiocoap.Context.create_client_context()
        try:

            async def upload(stall: float) -> list[Code]:
                codes = []
                first = block(0, True, b"\xf5" + b"\x00" * 15, edhoc)
                codes.append((await client.request(first, handle_blockwise=False).response).code)
                await asyncio.sleep(stall)
                last = block(1, False, b"\x00" * 4, edhoc)
                codes.append((await client.request(last, handle_blockwise=False).response).code)
                return codes

            return await upload(0.6), await upload(0.0)
        finally:
            await client.shutdown()
            await server.stop()

    stalled, prompt = run(scenario)
    assert stalled == [Code.CONTINUE, Code.REQUEST_ENTITY_INCOMPLETE]
    assert prompt == [Code.CONTINUE, Code.BAD_REQUEST]
