"""What a request's session changes outside the session's own ContextVar.

When a middleware puts a request's session in effect, two things outside our
ContextVar must follow, in both adapters alike: the span that was already
current (an outer server span, started before the middleware ran, which
``SessionSpanProcessor`` never saw inside a session) gets the ids, and, with
``propagate_baggage``, the session propagator is switched on for the request,
so that instrumented HTTP clients carry the ids to the next service (and never
a client's own session keys: it is on also when the request has no ids). This
module is the one place that does both; the adapters set and reset the session
themselves.

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

from collections.abc import Callable

from otel_genai_session._otel_context import stop_propagating
from otel_genai_session.middleware._span import span_lookup, tag_span
from otel_genai_session.session import SessionContext

__all__ = ["OuterContext"]


class OuterContext:
    """Tags the outer span and switches propagation on for a session; configured once."""

    __slots__ = ("_read_context", "_span_key", "_start_propagating")

    def __init__(self, propagate_baggage: bool) -> None:
        self._read_context, self._span_key = span_lookup()
        self._start_propagating: Callable[[], object] | None = None
        if propagate_baggage:
            # Imported only when asked for: it loads OpenTelemetry's propagators.
            from otel_genai_session.propagation import start_propagating

            self._start_propagating = start_propagating

    def enter(self, session: SessionContext) -> object | None:
        """Call with ``session`` in effect; returns the propagation token to leave
        with (None when propagation is off)."""
        if session.attributes:
            span = self._read_context().get(self._span_key)
            if span is not None:
                tag_span(span)  # e.g. an outer server span, started before us
        start = self._start_propagating
        return None if start is None else start()

    @staticmethod
    def leave(baggage_token: object | None) -> None:
        """Undo what :meth:`enter` switched on."""
        if baggage_token is not None:
            stop_propagating(baggage_token)
