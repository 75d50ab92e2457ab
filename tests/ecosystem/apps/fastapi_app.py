"""The scenario on FastAPI: ``app.add_middleware`` or wrapping the app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from opentelemetry.trace import TracerProvider
from starlette.types import ASGIApp

from otel_genai_session.middleware import GenAISessionMiddleware

from .common import (
    MIDDLEWARE_OPTIONS,
    TAG_HEADER,
    achunks,
    fail,
    reply,
    tagged_span,
)


def build(tracer_provider: TracerProvider, *, wrap: bool = False) -> ASGIApp:
    tracer = tracer_provider.get_tracer(__name__)
    app = FastAPI()

    @app.post("/chat")
    async def chat(request: Request, document: dict[str, Any]) -> dict[str, Any]:
        with tagged_span(tracer, "chat", request.headers.get(TAG_HEADER)):
            return reply(echo=document)

    @app.get("/stream")
    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(achunks(tracer, request.headers.get(TAG_HEADER)))

    @app.get("/error")
    async def error(request: Request) -> None:
        fail(tracer, request.headers.get(TAG_HEADER))

    @app.get("/plain")
    def plain(request: Request) -> dict[str, Any]:  # sync: runs in the thread pool
        with tagged_span(tracer, "plain", request.headers.get(TAG_HEADER)):
            return reply()

    if wrap:
        return GenAISessionMiddleware(app, **MIDDLEWARE_OPTIONS)
    app.add_middleware(GenAISessionMiddleware, **MIDDLEWARE_OPTIONS)
    return app
