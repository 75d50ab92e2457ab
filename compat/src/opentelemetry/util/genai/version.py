"""Re-exports :mod:`otel_genai_session.version` at its former path."""

from otel_genai_session.version import (
    __version__,
)

__all__ = [
    "__version__",
]
