"""Re-exports :mod:`otel_genai_session.handler` at its former path, with the session API
(:mod:`otel_genai_session.session`) that the seed also served from it."""

from otel_genai_session.handler import TelemetryHandler, get_telemetry_handler
from otel_genai_session.session import (
    SessionContext,
    clear_session_context,
    get_session_context,
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
