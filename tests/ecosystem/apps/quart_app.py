"""The scenario on Quart, with ``app.asgi_app = GenAISessionMiddleware(app.asgi_app)``."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import TracerProvider
from quart import Quart, Response, request

from otel_genai_session.middleware import GenAISessionMiddleware

from .common import MIDDLEWARE_OPTIONS, TAG_HEADER, achunks, fail, reply, tagged_span


def build(tracer_provider: TracerProvider) -> Quart:
    tracer = tracer_provider.get_tracer(__name__)
    app = Quart(__name__)

    @app.post("/chat")
    async def chat() -> dict[str, Any]:
        document = await request.get_json()
        with tagged_span(tracer, "chat", request.headers.get(TAG_HEADER)):
            return reply(echo=document)

    @app.get("/stream")
    async def stream() -> Response:
        return Response(achunks(tracer, request.headers.get(TAG_HEADER)))

    @app.get("/error")
    async def error() -> None:
        fail(tracer, request.headers.get(TAG_HEADER))

    @app.get("/plain")
    async def plain() -> dict[str, Any]:
        with tagged_span(tracer, "plain", request.headers.get(TAG_HEADER)):
            return reply()

    app.asgi_app = GenAISessionMiddleware(app.asgi_app, **MIDDLEWARE_OPTIONS)  # type: ignore[method-assign]
    return app
