"""ASGI and WSGI middlewares that put each request's session ids in effect.

Each class loads on first use, so importing the ASGI one never imports WSGI
machinery and the reverse; neither imports a web framework.

Usage::

    from opentelemetry.util.genai.middleware import GenAISessionMiddleware
    app.add_middleware(GenAISessionMiddleware)              # FastAPI / Starlette

    from opentelemetry.util.genai.middleware import SessionWSGIMiddleware
    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app)      # Flask
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.util.genai.middleware.asgi import GenAISessionMiddleware
    from opentelemetry.util.genai.middleware.wsgi import SessionWSGIMiddleware

__all__ = ["GenAISessionMiddleware", "SessionWSGIMiddleware"]


def __getattr__(name: str) -> Any:
    if name == "GenAISessionMiddleware":
        from opentelemetry.util.genai.middleware.asgi import GenAISessionMiddleware

        return GenAISessionMiddleware
    if name == "SessionWSGIMiddleware":
        from opentelemetry.util.genai.middleware.wsgi import SessionWSGIMiddleware

        return SessionWSGIMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
