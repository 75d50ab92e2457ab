"""Re-exports :mod:`otel_genai_session.session` at its former path."""

from otel_genai_session.session import (
    SessionContext,
    SessionProperties,
    clear_session_context,
    get_session_context,
    session_context,
    set_session_context,
)

__all__ = [
    "SessionContext",
    "SessionProperties",
    "clear_session_context",
    "get_session_context",
    "session_context",
    "set_session_context",
]
