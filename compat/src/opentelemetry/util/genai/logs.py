"""Re-exports :mod:`otel_genai_session.logs` at its former path."""

from otel_genai_session.logs import (
    SessionLogFilter,
    SessionLogRecordProcessor,
)

__all__ = [
    "SessionLogFilter",
    "SessionLogRecordProcessor",
]
