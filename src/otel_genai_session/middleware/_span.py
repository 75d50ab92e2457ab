"""Tag the span that is current when a request starts (an outer server span).

Spans started inside the session get the ids from ``SessionSpanProcessor``;
a server span started *before* the middleware ran (OpenTelemetry's own ASGI or
WSGI middleware wrapped around ours) does not, so the middleware sets them on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from otel_genai_session._fastpaths import current_span_lookup
from otel_genai_session.session import session_attributes

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["span_lookup", "tag_span"]


def span_lookup() -> tuple[Callable[[], Mapping[str, Any]], str]:
    """``(read, key)`` such that ``read().get(key)`` is the current span or None.

    Asked on every request, so it binds the fastest way the installed API
    offers (see :func:`otel_genai_session._fastpaths.current_span_lookup`).
    Called when a middleware is built, so importing one does not import the
    trace API.
    """
    return current_span_lookup()


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
