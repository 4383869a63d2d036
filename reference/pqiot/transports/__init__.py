"""Thin asyncio adapters that carry a :class:`pqiot.reference.session.Session` over real links.

No protocol logic lives here: an adapter frames the session's payloads for
its link, feeds received payloads back with the current time, and fires the
session's timers.
"""
