"""``opentelemetry.util.genai.middleware``: re-exports :mod:`otel_genai_session.middleware`."""

from typing import Any

from otel_genai_session import middleware as _core

__all__ = [*_core.__all__]


def __getattr__(name: str) -> Any:
    # Lazy, like the core package: the ASGI middleware never loads WSGI code.
    if name in _core.__all__:
        return getattr(_core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
