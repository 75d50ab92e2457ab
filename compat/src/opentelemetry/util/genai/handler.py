"""Re-exports :mod:`otel_genai_session.handler` at its former path, with the session API
(:mod:`otel_genai_session.session`) that the seed also served from it, and Splunk's
GenAI context API (:mod:`otel_genai_session.splunk_context`) where Splunk's package
serves it (``_apply_genai_context`` included: Splunk's own tests import it)."""

from otel_genai_session.handler import TelemetryHandler, get_telemetry_handler
from otel_genai_session.session import (
    SessionContext,
    clear_session_context,
    get_session_context,
    session_context,
    set_session_context,
)
from otel_genai_session.splunk_context import (
    GenAIContext,
    clear_genai_context,
    genai_context,
    get_genai_context,
    set_genai_context,
)
from otel_genai_session.splunk_context import (  # noqa: F401  (Splunk's private name)
    apply_genai_context as _apply_genai_context,
)

__all__ = [
    "GenAIContext",
    "SessionContext",
    "TelemetryHandler",
    "clear_genai_context",
    "clear_session_context",
    "genai_context",
    "get_genai_context",
    "get_session_context",
    "get_telemetry_handler",
    "session_context",
    "set_genai_context",
    "set_session_context",
]
