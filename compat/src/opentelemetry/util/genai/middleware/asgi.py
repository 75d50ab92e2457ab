"""Re-exports :mod:`otel_genai_session.middleware.asgi` at its former path."""

from otel_genai_session.middleware.asgi import (
    SCOPE_KEY,
    GenAISessionMiddleware,
    session_from_scope,
)

__all__ = [
    "GenAISessionMiddleware",
    "SCOPE_KEY",
    "session_from_scope",
]
