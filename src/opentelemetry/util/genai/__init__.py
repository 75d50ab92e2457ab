"""Session, user and tenant ids on every OpenTelemetry span of a GenAI application.

Usage::

    from opentelemetry.util.genai import session_context

    with session_context(session_id="conv-123", user_id="user-456", customer_id="acme"):
        ...  # spans started here carry session.id, user.id and customer.id

The session names are imported eagerly (they are light); the handler, the
invocation types and the span processor load on first use, so that importing
the middlewares does not pay for the OpenTelemetry SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.util.genai._conflicts import warn_about_conflicts
from opentelemetry.util.genai.session import (
    SessionContext,
    clear_session_context,
    get_session_context,
    session_context,
    set_session_context,
)
from opentelemetry.util.genai.version import __version__

if TYPE_CHECKING:
    from opentelemetry.util.genai.handler import TelemetryHandler, get_telemetry_handler
    from opentelemetry.util.genai.processor import SessionSpanProcessor
    from opentelemetry.util.genai.types import (
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
    "LLMInvocation",
    "RetrievalInvocation",
    "SessionContext",
    "SessionSpanProcessor",
    "Step",
    "TelemetryHandler",
    "ToolCall",
    "Workflow",
    "__version__",
    "clear_session_context",
    "get_session_context",
    "get_telemetry_handler",
    "session_context",
    "set_session_context",
]

_LAZY = {
    "TelemetryHandler": "handler",
    "get_telemetry_handler": "handler",
    "SessionSpanProcessor": "processor",
    **dict.fromkeys(
        (
            "AgentInvocation",
            "EmbeddingInvocation",
            "GenAIInvocation",
            "LLMInvocation",
            "RetrievalInvocation",
            "Step",
            "ToolCall",
            "Workflow",
        ),
        "types",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


warn_about_conflicts()
