"""Re-exports :mod:`otel_genai_session.middleware.wsgi` at its former path.

``ENVIRON_KEY`` is the core's one key, :data:`otel_genai_session.middleware.SESSION_KEY`.
"""

from otel_genai_session.middleware import SESSION_KEY as ENVIRON_KEY
from otel_genai_session.middleware.wsgi import (
    SessionWSGIMiddleware,
    session_from_environ,
)

__all__ = [
    "ENVIRON_KEY",
    "SessionWSGIMiddleware",
    "session_from_environ",
]
