"""What a request's session changes outside the session's own ContextVar.

When a middleware puts a request's session in effect, two things outside our
ContextVar must follow, in both adapters alike: the span that was already
current (an outer server span, started before the middleware ran, which
``SessionSpanProcessor`` never saw inside a session) gets the ids, and, with
``propagate_baggage``, the ids go into OpenTelemetry Baggage so that
instrumented HTTP clients carry them to the next service. This module is the
one place that does both; the adapters set and reset the session themselves.

Usage::

    outer = OuterContext(propagate_baggage=True)
    token = _current.set(session)
    baggage_token = outer.enter(session)
    try:
        ...  # the app runs in the session
    finally:
        outer.leave(baggage_token)
        _current.reset(token)
"""

from __future__ import annotations

from otel_genai_session._otel_context import attach_baggage, detach_quietly
from otel_genai_session.middleware._span import span_lookup, tag_span
from otel_genai_session.session import SessionContext

__all__ = ["OuterContext", "attach_session_baggage"]


def attach_session_baggage(session: SessionContext) -> object:
    """Make the session's ids the request's Baggage entries; returns the token to
    detach. The one place the middlewares put ids into Baggage."""
    return attach_baggage(session.attributes)


class OuterContext:
    """Tags the outer span and attaches Baggage for a session; configured once."""

    __slots__ = ("_propagate_baggage", "_read_context", "_span_key")

    def __init__(self, propagate_baggage: bool) -> None:
        self._propagate_baggage = propagate_baggage
        self._read_context, self._span_key = span_lookup()

    def enter(self, session: SessionContext) -> object | None:
        """Call with ``session`` in effect; returns the Baggage token to leave
        with (None when nothing was attached)."""
        if not session.attributes:
            return None
        span = self._read_context().get(self._span_key)
        if span is not None:
            tag_span(span)  # e.g. an outer server span, started before us
        return attach_session_baggage(session) if self._propagate_baggage else None

    @staticmethod
    def leave(baggage_token: object | None) -> None:
        """Detach what :meth:`enter` attached."""
        if baggage_token is not None:
            detach_quietly(baggage_token)
