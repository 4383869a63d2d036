"""Where ``--target NAME`` finds a device's :class:`~pqiot.vectors.agent.PrimitiveAgent`.

The HIL harness (issue 6) owns targets. The contract it provides is one
function, ``pqiot.hil.targets.open_primitive_agent(name)``, returning a context
manager that brings the target up, yields a
:class:`~pqiot.vectors.agent.PrimitiveAgent` speaking TAP to it, and tears it
down; an unknown name raises ``KeyError``. Without that registry, asking for a
target is an error that says so; nothing pretends to be a device.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import cast

from pqiot.vectors.agent import PrimitiveAgent

__all__ = ["HIL_ENTRY_POINT", "HIL_TARGETS_MODULE", "NoTargets", "open_target"]

HIL_TARGETS_MODULE = "pqiot.hil.targets"
HIL_ENTRY_POINT = "open_primitive_agent"

Opener = Callable[[str], AbstractContextManager[PrimitiveAgent]]


class NoTargets(LookupError):
    """No HIL target registry is installed, or it does not know the name."""


def _opener(name: str) -> Opener:
    try:
        module = importlib.import_module(HIL_TARGETS_MODULE)
    except ModuleNotFoundError:
        module = None
    opener = getattr(module, HIL_ENTRY_POINT, None) if module is not None else None
    if opener is None:
        raise NoTargets(
            f"no HIL targets are defined yet, so --target {name!r} cannot be used: targets "
            f"arrive with the HIL harness (issue 6) as {HIL_TARGETS_MODULE}.{HIL_ENTRY_POINT}(). "
            "Run without --target to verify against the reference implementation."
        )
    return cast(Opener, opener)


@contextmanager
def open_target(name: str) -> Iterator[PrimitiveAgent]:
    """Bring target ``name`` up for the duration of the ``with`` block."""
    opener = _opener(name)
    with ExitStack() as stack:
        try:
            agent = stack.enter_context(opener(name))
        except KeyError as exc:
            detail = exc.args[0] if exc.args else name
            raise NoTargets(f"unknown target {name!r}: {detail}") from None
        yield agent
