"""SESSION_START ``transport: "link"`` on the TCP binding, and the ``state_timer`` option.

Proposed §13.5 text (the reference implements it): with ``transport: "link"``
an Initiator connects to the ``tcp://HOST:PORT`` given as ``link``; a Responder
listens on ``link`` (default ``tcp://127.0.0.1:0``, port 0 = any free port) for
the one connection of the session and returns the URL it listens on as
``link`` in the SESSION_START result. ``state_timer`` (seconds, 1..300) sets the
session's handshake state timer (REQ-HS-037), which on TCP is also the
partial-frame timeout (REQ-TCP-005).

What the agent thread does with a link session's events is here too: the
link reports them on its loop thread and the next command on the session
reports an alert among them, as for a timer (§13.5 "Timers").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pqiot.reference.edhoc import events as hs
from pqiot.reference.errors import Alert
from pqiot.reference.records import layer as rl
from pqiot.reference.session import DEFAULT_HANDSHAKE_TIMEOUT, SessionEvent
from pqiot.reference.tap.arguments import AgentFailure, Arguments
from pqiot.reference.tap.codes import Status
from pqiot.reference.tap.expiry import Expiry
from pqiot.reference.tap.peer_errors import peer_alert

__all__ = ["LinkRequest", "link_report", "link_request", "state_timer"]

#: REQ-HS-037: the state timer is configurable between 1 s and 300 s.
STATE_TIMER_RANGE = (1, 300)
#: Where a Responder listens when SESSION_START names no address.
DEFAULT_LISTEN = "tcp://127.0.0.1:0"


@dataclass(frozen=True)
class LinkRequest:
    """A TCP link to open: dial ``host:port`` (Initiator) or listen there (Responder)."""

    host: str
    port: int
    listen: bool


def link_request(args: Arguments, role: str) -> LinkRequest | None:
    """None for ``transport: "tap"``; the TCP endpoint for ``"link"``."""
    from pqiot.transports.tcp import parse_tcp_url

    transport = args.text("transport", default="tap")
    if transport == "tap":
        return None
    if transport != "link":
        raise AgentFailure(Status.UNSUPPORTED, f"transport {transport!r} is not tap/link")
    if role == "initiator" and not args.has("link"):
        raise AgentFailure(
            Status.MALFORMED,
            'an Initiator with transport "link" needs "link": "tcp://HOST:PORT" to connect to',
        )
    url = args.text("link", default=DEFAULT_LISTEN)
    try:
        address = parse_tcp_url(url)
    except ValueError as exc:
        raise AgentFailure(Status.INVALID_INPUT, f"link: {exc}") from None
    if role == "initiator" and address.port == 0:
        raise AgentFailure(Status.INVALID_INPUT, "link: an Initiator cannot connect to port 0")
    return LinkRequest(address.host, address.port, listen=role == "responder")


def state_timer(args: Arguments) -> float:
    """The handshake state timer of the session in seconds (REQ-HS-037, default 30)."""
    if not args.has("state_timer"):
        return DEFAULT_HANDSHAKE_TIMEOUT
    low, high = STATE_TIMER_RANGE
    seconds = args.uint("state_timer")
    if not low <= seconds <= high:
        raise AgentFailure(
            Status.INVALID_INPUT, f"state_timer {seconds} s is outside {low}..{high} s"
        )
    return float(seconds)


def link_report(
    events: Sequence[SessionEvent], alert: Alert | None = None, detail: str = ""
) -> Expiry | None:
    """What the next command on a link session reports: the first failure among ``events``,
    else the link's own end (``alert`` None: an orderly end, nothing to report)."""
    for event in events:
        if isinstance(event, hs.HandshakeFailed):
            return Expiry(event.alert, event.detail, (), tuple(events))
        if isinstance(event, hs.ErrorReceived):
            received = f"received ERR_CODE {event.err_code}: {event.err_info!r}"
            return Expiry(peer_alert(event.err_code, event.err_info), received, (), tuple(events))
        if isinstance(event, rl.SessionClosed) and event.alert is not None:
            closed = f"session closed by a {event.origin} alert"
            return Expiry(event.alert, closed, (), tuple(events))
    return None if alert is None else Expiry(alert, detail, (), tuple(events))
