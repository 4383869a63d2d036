"""Encode and decode ``tap_request`` / ``tap_response`` (spec §13.2), sans-I/O.

Every decoder raises :class:`~pqiot.reference.errors.DecodeError` and nothing else.
A bad request raises :class:`RequestRejected` (a ``DecodeError``) that also carries
what an agent must answer: the status (2 malformed, 4 too large) and the request_id
when it could still be read (REQ-TAP-003, REQ-TAP-006).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pqiot.reference import cbor
from pqiot.reference.cbor import CborValue
from pqiot.reference.errors import DecodeError
from pqiot.reference.tap.codes import Status

__all__ = [
    "RequestRejected",
    "TapRequest",
    "TapResponse",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
]


@dataclass(frozen=True)
class TapRequest:
    """``[command, request_id, args]``."""

    command: int
    request_id: int
    args: dict[str, CborValue] = field(default_factory=dict)


@dataclass(frozen=True)
class TapResponse:
    """``[request_id / null, status, result]``."""

    request_id: int | None
    status: int
    result: dict[str, CborValue] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == Status.OK


class RequestRejected(DecodeError):
    """A request an agent must refuse, with the status and request_id of its answer."""

    def __init__(self, detail: str, status: Status, request_id: int | None) -> None:
        super().__init__(detail, "REQ-TAP-006" if status is Status.TOO_LARGE else "REQ-TAP-003")
        self.status = status
        self.request_id = request_id


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _as_map(values: Mapping[str, CborValue]) -> CborValue:
    """A text-keyed map as the codec's map type (dict is invariant in its key type)."""
    converted: dict[CborValue, CborValue] = dict(values.items())
    return converted


def encode_request(command: int, request_id: int, args: Mapping[str, CborValue]) -> bytes:
    if not (_is_uint(command) and _is_uint(request_id)):
        raise ValueError("command and request_id must be unsigned integers")
    return cbor.encode([int(command), int(request_id), _as_map(args)])


def decode_request(data: bytes, max_request: int) -> TapRequest:
    """Parse one request; a request above ``max_request`` is refused unparsed (REQ-TAP-006)."""
    if len(data) > max_request:
        raise RequestRejected(
            f"request of {len(data)} bytes exceeds max_tap_request {max_request}",
            Status.TOO_LARGE,
            None,
        )
    try:
        value = cbor.decode(data)
    except DecodeError as exc:
        raise RequestRejected(
            f"not deterministic CBOR: {exc.detail}", Status.MALFORMED, None
        ) from None
    if not isinstance(value, list) or len(value) != 3:
        raise RequestRejected(
            "a TAP request is a CBOR array of exactly 3 items", Status.MALFORMED, None
        )
    command, request_id, args = value
    rid = request_id if isinstance(request_id, int) and _is_uint(request_id) else None
    if rid is None:
        raise RequestRejected("request_id must be an unsigned integer", Status.MALFORMED, None)
    if not _is_uint(command):
        raise RequestRejected("command must be an unsigned integer", Status.MALFORMED, rid)
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise RequestRejected("args must be a map with text keys", Status.MALFORMED, rid)
    assert isinstance(command, int)
    return TapRequest(command, rid, {str(k): v for k, v in args.items()})


def encode_response(response: TapResponse) -> bytes:
    return cbor.encode([response.request_id, int(response.status), _as_map(response.result)])


def decode_response(data: bytes, max_response: int | None = None) -> TapResponse:
    """Parse one response (host side); anything that is not ``tap_response`` is a DecodeError."""
    if max_response is not None and len(data) > max_response:
        raise DecodeError(f"response of {len(data)} bytes exceeds {max_response}")
    value = cbor.decode(data)
    if not isinstance(value, list) or len(value) != 3:
        raise DecodeError("a TAP response is a CBOR array of exactly 3 items")
    request_id, status, result = value
    if not (request_id is None or _is_uint(request_id)):
        raise DecodeError(f"response request_id must be uint or null, not {request_id!r}")
    if not isinstance(status, int) or isinstance(status, bool):
        raise DecodeError(f"response status must be an integer, not {status!r}")
    if not isinstance(result, dict) or not all(isinstance(k, str) for k in result):
        raise DecodeError("response result must be a map with text keys")
    assert request_id is None or isinstance(request_id, int)
    return TapResponse(request_id, status, {str(k): v for k, v in result.items()})
