"""The scenario on Flask, with ``app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app)``.

The streamed route does not use ``stream_with_context``: the middleware keeps
the session in effect while the server iterates the body (pitfall 37).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, request
from opentelemetry.trace import TracerProvider

from otel_genai_session import set_session_context
from otel_genai_session.middleware import SessionWSGIMiddleware

from .common import MIDDLEWARE_OPTIONS, TAG_HEADER, chunks, fail, reply, tagged_span


def bare(tracer_provider: TracerProvider) -> Flask:
    """The app without the middleware, for tests that compose it themselves."""
    tracer = tracer_provider.get_tracer(__name__)
    app = Flask(__name__)

    def peer() -> int | None:
        port = request.environ.get("REMOTE_PORT")
        return int(port) if port else None

    @app.post("/chat")
    def chat() -> dict[str, Any]:
        document = request.get_json()
        with tagged_span(tracer, "chat", request.headers.get(TAG_HEADER)):
            return reply(echo=document, peer=peer(), pid=os.getpid())

    @app.get("/stream")
    def stream() -> Response:
        return Response(chunks(tracer, request.headers.get(TAG_HEADER)))

    @app.get("/error")
    def error() -> None:
        fail(tracer, request.headers.get(TAG_HEADER))

    @app.get("/plain")
    def plain() -> dict[str, Any]:
        with tagged_span(tracer, "plain", request.headers.get(TAG_HEADER)):
            return reply(peer=peer(), pid=os.getpid())

    @app.post("/leak")
    def leak() -> dict[str, Any]:
        """Sets a session and never clears it: the server's thread must not keep it."""
        set_session_context(session_id="leaked-by-app", user_id="leaked-user")
        with tagged_span(tracer, "leak", request.headers.get(TAG_HEADER)):
            return reply(peer=peer(), pid=os.getpid())

    return app


def build(tracer_provider: TracerProvider) -> Flask:
    app = bare(tracer_provider)
    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app, **MIDDLEWARE_OPTIONS)  # type: ignore[method-assign]
    return app
