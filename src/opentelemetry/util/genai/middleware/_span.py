"""Tag the span that is current when a request starts (an outer server span).

Spans started inside the session get the ids from ``SessionSpanProcessor``;
a server span started *before* the middleware ran (OpenTelemetry's own ASGI or
WSGI middleware wrapped around ours) does not, so the middleware sets them on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from opentelemetry.util.genai.session import SessionContext, session_attributes

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["tag_current_span"]


def tag_current_span(session: SessionContext) -> None:
    """Put the ids on the span current at request start (e.g. an outer server
    span), keeping values it already has. Never raises."""
    try:
        span = _current_span()
        if span is None or not span.is_recording():
            return
        attributes = session_attributes()
        if attributes:
            existing = getattr(span, "attributes", None) or {}
            span.set_attributes({k: v for k, v in attributes.items() if k not in existing})
    except Exception:  # pragma: no cover - defensive: a broken span must not fail requests
        return


def _current_span() -> Span | None:
    """The current OpenTelemetry span, if any; looked up on every request.

    The first call binds the fastest way this API offers (one ContextVar read
    and one dict lookup instead of ``get_current_span()``'s five calls) and
    replaces this function, so importing the middleware does not import the
    OpenTelemetry trace API.
    """
    global _current_span
    try:
        from opentelemetry.context import _RUNTIME_CONTEXT
        from opentelemetry.trace.propagation import _SPAN_KEY

        read_context = _RUNTIME_CONTEXT.get_current

        def current_span() -> Span | None:
            return cast("Span | None", read_context().get(_SPAN_KEY))

    except ImportError:  # pragma: no cover - an API without these private names
        from opentelemetry.trace import get_current_span

        def current_span() -> Span | None:
            return get_current_span()

    _current_span = current_span
    return current_span()
