"""Running a session's timers between TAP commands (REQ-HS-037, REQ-KU-006).

A device runs its handshake state timer and key-update timeout on its own
clock; through TAP the expiry must be observable without any traffic. The
agent therefore fires due timers before every command and keeps what the
expiry produced (the alert, the close record) as an :class:`Expiry` until the
next command on that session reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pqiot.reference.edhoc import events as hs
from pqiot.reference.errors import Alert
from pqiot.reference.records import layer as rl
from pqiot.reference.session import PayloadDropped, Session, SessionEvent, SessionState

__all__ = ["Expiry", "fire_timers"]

_RUNNING = (SessionState.HANDSHAKING, SessionState.ESTABLISHED)


@dataclass(frozen=True)
class Expiry:
    """What a timer did to a session: the alert, and the payloads it would have sent."""

    alert: Alert
    detail: str
    out: tuple[bytes, ...]
    events: tuple[SessionEvent, ...]


def fire_timers(session: Session, now: float) -> Expiry | None:
    """Fire ``session``'s due timers; None when nothing was due (or nothing happened)."""
    deadline = session.timer_deadline
    if session.state not in _RUNNING or deadline is None or now < deadline:
        return None
    # Session.handle_timer queues the close record of a key-update timeout and
    # reports it as SessionClosed(key_update_failed, "local"); it never raises.
    session.handle_timer(now)
    out = _bodies(session)
    events = _events(session)
    for event in events:
        failure = _failure(event)
        if failure is not None:
            return Expiry(*failure, tuple(out), events)
    return None


def _bodies(session: Session) -> list[bytes]:
    """Queued payloads without their kind byte, as TAP ``out`` lists them."""
    return [payload[1:] for payload in session.data_to_send()]


def _events(session: Session) -> tuple[SessionEvent, ...]:
    events: list[SessionEvent] = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return tuple(events)


def _failure(event: SessionEvent) -> tuple[Alert, str] | None:
    if isinstance(event, hs.HandshakeFailed | PayloadDropped):
        return event.alert, event.detail
    if isinstance(event, rl.SessionClosed) and event.alert is not None:
        return event.alert, f"session closed by a {event.origin} alert"
    return None
