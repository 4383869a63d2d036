"""The parser contract every harness checks (spec REQ-ENC-011).

A parser of protocol input either returns a value or raises its one typed
error (``DecodeError`` for decoders, ``ProtocolError`` for layers that also
report alerts such as ``message_too_large``, the loader's own error for file
loaders). Anything else — ``IndexError``, ``KeyError``, ``RecursionError``,
``MemoryError``, an ``AssertionError`` of a round trip — is a defect, and the
fuzzer must see it as a crash. Time and memory are bounded too: a decoder
that allocates by a declared length before checking it, or loops without
consuming input, is as broken as one that throws.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "ContractViolation",
    "Measurement",
    "allowed",
    "measure",
]

#: Memory a single input may make a parser allocate: a fixed allowance (interpreter
#: noise, small tables) plus a factor of the input size (copies, decoded objects).
BASE_ALLOWANCE = 4 * 1024 * 1024
PER_INPUT_BYTE = 64
#: Wall-clock bound for one input in the in-process checks (libFuzzer has -timeout).
DEFAULT_TIME_LIMIT = 2.0


class ContractViolation(AssertionError):
    """A parser broke its contract: wrong exception type, bad round trip, too slow or too hungry."""


def allowed(
    call: Callable[[], object], errors: tuple[type[BaseException], ...], what: str
) -> object | None:
    """Run ``call``; return its value, or None when it raised one of ``errors``.

    Every other exception propagates unchanged, so the fuzzer reports it with its
    own traceback (the one a developer wants to read).
    """
    try:
        return call()
    except errors:
        return None


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_bytes: int


def measure(
    one_input: Callable[[bytes], None],
    data: bytes,
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
    memory_limit: int | None = None,
) -> Measurement:
    """Run ``one_input(data)`` under tracemalloc and check the time and memory bounds.

    Used by the Hypothesis tests (Atheris/libFuzzer enforce their own ``-timeout``
    and ``-rss_limit_mb``); raises :class:`ContractViolation` when a bound is exceeded.
    """
    limit = (
        memory_limit if memory_limit is not None else BASE_ALLOWANCE + PER_INPUT_BYTE * len(data)
    )
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    start = time.perf_counter()
    try:
        one_input(data)
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        if started_tracing:
            tracemalloc.stop()
    used = max(0, peak - before)
    if elapsed > time_limit:
        raise ContractViolation(
            f"one input of {len(data)} bytes took {elapsed:.3f} s (limit {time_limit} s)"
        )
    if used > limit:
        raise ContractViolation(
            f"one input of {len(data)} bytes allocated {used} bytes at peak (limit {limit})"
        )
    return Measurement(elapsed, used)
