"""Block1 reassembly for the CoAP server with the spec's timeout (REQ-COAP-004).

aiocoap's own Block1 spool keeps an incomplete upload for MAX_TRANSMIT_WAIT
(93 s) after the *last* block, refreshed by every block. The spec ties
incomplete Block1 state to the handshake state timer (chapter 5 §5.12,
default 30 s), counted from the first block so that a slow sender cannot
keep the state alive forever. This spool enforces that, caps the body at
16384 bytes and the number of concurrent uploads, and answers as RFC 7959
§2.5 says: 2.31 Continue for a block that is not the last, 4.08 Request
Entity Incomplete for a block that does not continue a live upload.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import aiocoap
from aiocoap.blockwise import ContinueException, IncompleteException
from aiocoap.error import BadRequest
from aiocoap.numbers.optionnumbers import OptionNumber

__all__ = ["DEFAULT_BLOCK1_TIMEOUT", "MAX_UPLOADS", "Block1Spool"]

#: The handshake state timer default (REQ-HS-037), which REQ-COAP-004 applies to Block1 state.
DEFAULT_BLOCK1_TIMEOUT = 30.0
#: Concurrent incomplete uploads kept; the oldest is dropped beyond this (memory bound).
MAX_UPLOADS = 16

_BlockKey = tuple[object, ...]


@dataclass
class _Upload:
    started: float
    body: bytearray


def _key(request: aiocoap.Message) -> _BlockKey:
    """Blocks of one upload share remote, method and every option but the block options."""
    ignore = [OptionNumber.BLOCK1, OptionNumber.BLOCK2, OptionNumber.SIZE1]
    return (request.remote.blockwise_key, request.code, request.get_cache_key(ignore))


class Block1Spool:
    """Collects Block1 requests into one request; forgets an upload ``timeout`` s after it began."""

    def __init__(
        self,
        timeout: float = DEFAULT_BLOCK1_TIMEOUT,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_uploads: int = MAX_UPLOADS,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"the Block1 reassembly timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._clock = clock
        self._max_uploads = max_uploads
        self._uploads: dict[_BlockKey, _Upload] = {}
        self.expired = 0

    def __len__(self) -> int:
        return len(self._uploads)

    def _expire(self, now: float) -> None:
        for key, upload in list(self._uploads.items()):
            if now - upload.started > self.timeout:
                del self._uploads[key]
                self.expired += 1

    def feed(self, request: aiocoap.Message) -> aiocoap.Message:
        """Return the complete request, or raise ContinueException / IncompleteException."""
        block1 = request.opt.block1
        if block1 is None:
            return request
        now = self._clock()
        self._expire(now)
        if block1.more and len(request.payload) != block1.size:
            raise BadRequest("Block1 payload size does not match its SZX (RFC 7959 §2.3)")
        key = _key(request)
        if block1.block_number == 0:
            self._uploads.pop(key, None)  # a new upload replaces an unfinished one
            while len(self._uploads) >= self._max_uploads:
                del self._uploads[next(iter(self._uploads))]
            upload = _Upload(now, bytearray())
            self._uploads[key] = upload
        else:
            found = self._uploads.get(key)
            if found is None or block1.start != len(found.body):
                raise IncompleteException()  # expired, unknown or out of order: 4.08
            upload = found
        upload.body += request.payload
        if block1.more:
            raise ContinueException(block1)
        del self._uploads[key]
        return request.copy(payload=bytes(upload.body))
