"""Tag the span that is current when a request starts (an outer server span).

Spans started inside the session get the ids from ``SessionSpanProcessor``;
a server span started *before* the middleware ran (OpenTelemetry's own ASGI or
WSGI middleware wrapped around ours) does not, so the middleware sets them on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from otel_genai_session.session import session_attributes

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["span_lookup", "tag_span"]


def span_lookup() -> tuple[Callable[[], Mapping[str, Any]], str]:
    """``(read, key)`` such that ``read().get(key)`` is the current span or None.

    Asked on every request, so this binds the fastest way the installed API
    offers: two C calls (the runtime context's ContextVar, then a dict lookup)
    instead of ``get_current_span()``'s five Python calls. Called when a
    middleware is built, so importing one does not import the trace API.
    """
    from contextvars import ContextVar

    try:
        from opentelemetry.context import _RUNTIME_CONTEXT
        from opentelemetry.trace.propagation import _SPAN_KEY

        context_var = getattr(_RUNTIME_CONTEXT, "_current_context", None)
        if isinstance(context_var, ContextVar):
            return context_var.get, _SPAN_KEY
        from opentelemetry.context import get_current

        return get_current, _SPAN_KEY
    except ImportError:  # pragma: no cover - an API without these private names
        from opentelemetry.trace import INVALID_SPAN, get_current_span

        def read() -> Mapping[str, Any]:
            span = get_current_span()
            return {"span": None if span is INVALID_SPAN else span}

        return read, "span"


def tag_span(span: Span) -> None:
    """Put the session's ids on ``span`` if it is recording, keeping values it
    already has. Never raises: a broken span must not fail the request."""
    try:
        if not span.is_recording():
            return
        attributes = session_attributes()
        if attributes:
            existing = getattr(span, "attributes", None) or {}
            span.set_attributes({k: v for k, v in attributes.items() if k not in existing})
    except Exception:  # pragma: no cover - defensive
        return
