"""Re-exports :mod:`otel_genai_session.handler` at its former path."""

from otel_genai_session.handler import (
    SessionContext,
    TelemetryHandler,
    clear_session_context,
    get_session_context,
    get_telemetry_handler,
    session_context,
    set_session_context,
)

__all__ = [
    "SessionContext",
    "TelemetryHandler",
    "clear_session_context",
    "get_session_context",
    "get_telemetry_handler",
    "session_context",
    "set_session_context",
]
