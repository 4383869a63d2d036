"""Typed access to a request's argument map, mapping every violation to its TAP status.

Why a helper: REQ-TAP-004/007 fix which status each kind of bad argument gets
(missing or wrong type: 2, too large: 4, out-of-range ``len``: 6), and every
command handler must apply the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping

from pqiot.reference.cbor import CborValue
from pqiot.reference.tap.codes import Status

__all__ = ["AgentFailure", "Arguments"]

_MISSING = object()


class AgentFailure(Exception):
    """A command ends with a non-zero status; ``result`` is the response's result map."""

    def __init__(self, status: Status, error: str, result: dict[str, CborValue] | None = None):
        super().__init__(error)
        self.status = status
        self.result: dict[str, CborValue] = {"error": error} if result is None else result


class Arguments:
    """The ``args`` map of one request; unknown keys are ignored (§13.2)."""

    def __init__(self, args: Mapping[str, CborValue], byte_limits: Mapping[str, int]) -> None:
        self._args = args
        self._limits = byte_limits

    def _get(self, key: str, default: object) -> object:
        value = self._args.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise AgentFailure(Status.MALFORMED, f"argument {key!r} is missing")
            return default
        return value

    def bytes_(self, key: str, *, size: int | None = None, default: object = _MISSING) -> bytes:
        value = self._get(key, default)
        if not isinstance(value, bytes):
            raise AgentFailure(Status.MALFORMED, f"argument {key!r} must be a byte string")
        limit = self._limits.get(key)
        if limit is not None and len(value) > limit:
            raise AgentFailure(
                Status.TOO_LARGE, f"argument {key!r} has {len(value)} bytes, limit {limit}"
            )
        if size is not None and len(value) != size:
            raise AgentFailure(
                Status.INVALID_INPUT, f"argument {key!r} must be {size} bytes, got {len(value)}"
            )
        return value

    def int_(self, key: str, *, default: object = _MISSING) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise AgentFailure(Status.MALFORMED, f"argument {key!r} must be an integer")
        return value

    def uint(self, key: str, *, maximum: int | None = None, default: object = _MISSING) -> int:
        value = self.int_(key, default=default)
        if value < 0:
            raise AgentFailure(Status.MALFORMED, f"argument {key!r} must be unsigned")
        if maximum is not None and value > maximum:
            raise AgentFailure(
                Status.INVALID_INPUT, f"argument {key!r} = {value} exceeds {maximum}"
            )
        return value

    def text(self, key: str, *, default: object = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise AgentFailure(Status.MALFORMED, f"argument {key!r} must be a text string")
        return value

    def bool_(self, key: str, *, default: object = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise AgentFailure(Status.MALFORMED, f"argument {key!r} must be a boolean")
        return value

    def int_list(self, key: str, *, default: object = _MISSING) -> list[int]:
        value = self._get(key, default)
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise AgentFailure(Status.MALFORMED, f"argument {key!r} must be an array of integers")
        return [int(v) for v in value]

    def has(self, key: str) -> bool:
        return key in self._args

    def raw(self, key: str) -> CborValue:
        """The value as decoded, for arguments with a union type (``c_id``: bstr / int)."""
        self._get(key, _MISSING)  # status 2 when missing
        return self._args[key]
