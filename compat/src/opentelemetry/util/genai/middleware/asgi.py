"""Re-exports :mod:`otel_genai_session.middleware.asgi` at its former path.

``SCOPE_KEY`` is the core's one key, :data:`otel_genai_session.middleware.SESSION_KEY`.
"""

from otel_genai_session.middleware import SESSION_KEY as SCOPE_KEY
from otel_genai_session.middleware.asgi import (
    GenAISessionMiddleware,
    session_from_scope,
)

__all__ = [
    "GenAISessionMiddleware",
    "SCOPE_KEY",
    "session_from_scope",
]
