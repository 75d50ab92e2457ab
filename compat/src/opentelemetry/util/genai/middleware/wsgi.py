"""Re-exports :mod:`otel_genai_session.middleware.wsgi` at its former path."""

from otel_genai_session.middleware.wsgi import (
    ENVIRON_KEY,
    SessionWSGIMiddleware,
)

__all__ = [
    "ENVIRON_KEY",
    "SessionWSGIMiddleware",
]
