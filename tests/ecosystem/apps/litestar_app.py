"""The scenario on Litestar, registered in ``Litestar(middleware=[...])`` or
wrapping the whole app, plus handlers for Litestar's own 404 and 405 replies."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.response import Stream
from litestar.types import ASGIApp
from opentelemetry.trace import TracerProvider

from otel_genai_session.middleware import GenAISessionMiddleware

from .common import MIDDLEWARE_OPTIONS, TAG_HEADER, achunks, fail, reply, tagged_span


def build(tracer_provider: TracerProvider, *, wrap: bool = False) -> ASGIApp:
    tracer = tracer_provider.get_tracer(__name__)

    @post("/chat", status_code=200)
    async def chat(request: Request[Any, Any, Any]) -> dict[str, Any]:
        document = await request.json()
        with tagged_span(tracer, "chat", request.headers.get(TAG_HEADER)):
            return reply(echo=document)

    @get("/stream")
    async def stream(request: Request[Any, Any, Any]) -> Stream:
        return Stream(achunks(tracer, request.headers.get(TAG_HEADER)))

    @get("/error")
    async def error(request: Request[Any, Any, Any]) -> None:
        fail(tracer, request.headers.get(TAG_HEADER))

    @get("/plain")
    async def plain(request: Request[Any, Any, Any]) -> dict[str, Any]:
        with tagged_span(tracer, "plain", request.headers.get(TAG_HEADER)):
            return reply()

    def routing_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        """Litestar's 404/405: the app's code still runs, so its spans need the ids."""
        with tagged_span(tracer, f"http-{exc.status_code}", request.headers.get(TAG_HEADER)):
            return Response(reply(), status_code=exc.status_code)

    app = Litestar(
        route_handlers=[chat, stream, error, plain],
        exception_handlers={404: routing_error, 405: routing_error},
        logging_config=None,  # Litestar would otherwise configure logging process-wide
        middleware=[] if wrap else [DefineMiddleware(GenAISessionMiddleware, **MIDDLEWARE_OPTIONS)],
    )
    if wrap:
        return GenAISessionMiddleware(app, **MIDDLEWARE_OPTIONS)
    return app
