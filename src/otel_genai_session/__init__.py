"""Session, user and tenant ids on every OpenTelemetry span of a GenAI application.

Usage::

    from otel_genai_session import SessionSpanProcessor, session_context

    provider.add_span_processor(SessionSpanProcessor())   # ids on every span

    with session_context(session_id="conv-123", user_id="user-456", customer_id="acme"):
        ...  # spans started here carry session.id, user.id and customer.id

Under ``opentelemetry-instrument`` (or with the SDK set up in code),
``otel_genai_session.instrument()`` adds the processors to the global providers.

The session names are imported eagerly (they are light). The processors, the
middlewares, the handler and the invocation types load on first use, so that
``import otel_genai_session`` loads neither the OpenTelemetry SDK nor a web
framework.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from otel_genai_session._conflicts import warn_about_conflicts
from otel_genai_session.session import (
    SessionContext,
    clear_session_context,
    get_session_context,
    session_context,
    set_session_context,
)
from otel_genai_session.version import __version__

if TYPE_CHECKING:
    from otel_genai_session.handler import TelemetryHandler, get_telemetry_handler
    from otel_genai_session.logs import SessionLogFilter, SessionLogRecordProcessor
    from otel_genai_session.middleware import (
        GenAISessionMiddleware,
        SessionWSGIMiddleware,
        session_from_environ,
        session_from_scope,
    )
    from otel_genai_session.processor import SessionSpanProcessor
    from otel_genai_session.providers import instrument
    from otel_genai_session.types import (
        AgentInvocation,
        EmbeddingInvocation,
        GenAIInvocation,
        LLMInvocation,
        RetrievalInvocation,
        Step,
        ToolCall,
        Workflow,
    )

__all__ = [
    "AgentInvocation",
    "EmbeddingInvocation",
    "GenAIInvocation",
    "GenAISessionMiddleware",
    "LLMInvocation",
    "RetrievalInvocation",
    "SessionContext",
    "SessionLogFilter",
    "SessionLogRecordProcessor",
    "SessionSpanProcessor",
    "SessionWSGIMiddleware",
    "Step",
    "TelemetryHandler",
    "ToolCall",
    "Workflow",
    "__version__",
    "clear_session_context",
    "get_session_context",
    "get_telemetry_handler",
    "instrument",
    "session_context",
    "session_from_environ",
    "session_from_scope",
    "set_session_context",
]

# Public name -> the submodule that defines it, imported on first access.
_LAZY = {
    "TelemetryHandler": "handler",
    "get_telemetry_handler": "handler",
    "SessionSpanProcessor": "processor",
    "instrument": "providers",
    "SessionLogFilter": "logs",
    "SessionLogRecordProcessor": "logs",
    "GenAISessionMiddleware": "middleware",
    "SessionWSGIMiddleware": "middleware",
    "session_from_environ": "middleware",
    "session_from_scope": "middleware",
    "AgentInvocation": "types",
    "EmbeddingInvocation": "types",
    "GenAIInvocation": "types",
    "LLMInvocation": "types",
    "RetrievalInvocation": "types",
    "Step": "types",
    "ToolCall": "types",
    "Workflow": "types",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


warn_about_conflicts()
