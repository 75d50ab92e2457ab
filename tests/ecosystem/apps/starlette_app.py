"""The scenario on Starlette: ``app.add_middleware(...)`` or wrapping the app."""

from __future__ import annotations

import os

from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from otel_genai_session import set_session_context
from otel_genai_session.middleware import GenAISessionMiddleware

from .common import (
    MIDDLEWARE_OPTIONS,
    TAG_HEADER,
    achunks,
    fail,
    reply,
    tagged_span,
)


def bare(tracer_provider: TracerProvider) -> Starlette:
    """The app without the middleware, for tests that compose it themselves."""
    tracer = tracer_provider.get_tracer(__name__)

    def peer(request: Request) -> int | None:
        return request.client.port if request.client else None

    async def chat(request: Request) -> Response:
        document = await request.json()
        with tagged_span(tracer, "chat", request.headers.get(TAG_HEADER)):
            return JSONResponse(reply(echo=document, peer=peer(request), pid=os.getpid()))

    async def stream(request: Request) -> Response:
        return StreamingResponse(achunks(tracer, request.headers.get(TAG_HEADER)))

    async def error(request: Request) -> Response:
        fail(tracer, request.headers.get(TAG_HEADER))
        raise AssertionError("unreachable")

    async def plain(request: Request) -> Response:
        with tagged_span(tracer, "plain", request.headers.get(TAG_HEADER)):
            return JSONResponse(reply(peer=peer(request), pid=os.getpid()))

    async def leak(request: Request) -> Response:
        """Sets a session and never clears it: the next request must not see it."""
        set_session_context(session_id="leaked-by-app", user_id="leaked-user")
        with tagged_span(tracer, "leak", request.headers.get(TAG_HEADER)):
            return JSONResponse(reply(peer=peer(request), pid=os.getpid()))

    routes = [
        Route("/chat", chat, methods=["POST"]),
        Route("/stream", stream),
        Route("/error", error),
        Route("/plain", plain),
        Route("/leak", leak, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def build(tracer_provider: TracerProvider, *, wrap: bool = False) -> ASGIApp:
    """The app with ``app.add_middleware(...)``, or wrapped whole."""
    app = bare(tracer_provider)
    if wrap:
        return GenAISessionMiddleware(app, **MIDDLEWARE_OPTIONS)
    app.add_middleware(GenAISessionMiddleware, **MIDDLEWARE_OPTIONS)
    return app
