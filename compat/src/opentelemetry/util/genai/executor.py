"""Re-exports :mod:`otel_genai_session.executor` at its former path."""

from otel_genai_session.executor import (
    ContextThreadPoolExecutor,
    bind_context,
    run_in_executor,
)

__all__ = [
    "ContextThreadPoolExecutor",
    "bind_context",
    "run_in_executor",
]
