"""ASGI and WSGI middlewares that put each request's session ids in effect.

Each class loads on first use, so importing the ASGI one never imports WSGI
machinery and the reverse; neither imports a web framework.

Usage::

    from otel_genai_session import GenAISessionMiddleware
    app.add_middleware(GenAISessionMiddleware)              # FastAPI / Starlette

    from otel_genai_session import SessionWSGIMiddleware
    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app)      # Flask

Code that runs outside the request's task but holds its ASGI scope (an MCP
server's tools, a websocket's worker) reads the request's session with
:func:`session_from_scope` (WSGI: :func:`session_from_environ`); both
middlewares keep it under :data:`SESSION_KEY` (``"otel_genai_session.session"``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_genai_session.middleware._keys import SESSION_KEY
    from otel_genai_session.middleware.asgi import GenAISessionMiddleware, session_from_scope
    from otel_genai_session.middleware.wsgi import SessionWSGIMiddleware, session_from_environ

__all__ = [
    "GenAISessionMiddleware",
    "SESSION_KEY",
    "SessionWSGIMiddleware",
    "session_from_environ",
    "session_from_scope",
]

_LAZY = {
    "SESSION_KEY": "_keys",
    "GenAISessionMiddleware": "asgi",
    "session_from_scope": "asgi",
    "SessionWSGIMiddleware": "wsgi",
    "session_from_environ": "wsgi",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
