"""Re-exports :mod:`otel_genai_session.processor` at its former path."""

from otel_genai_session.processor import (
    SessionSpanProcessor,
)

__all__ = [
    "SessionSpanProcessor",
]
