"""The scenario on Falcon, ASGI (``falcon.asgi.App``) and WSGI (``falcon.App``),
each wrapped whole (Falcon's own middleware protocol is not ASGI/WSGI)."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi
from opentelemetry.trace import TracerProvider

from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware

from .common import MIDDLEWARE_OPTIONS, TAG_HEADER, achunks, chunks, fail, reply, tagged_span


def build_asgi(tracer_provider: TracerProvider) -> Any:
    tracer = tracer_provider.get_tracer(__name__)

    class Chat:
        async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            document = await req.get_media()
            with tagged_span(tracer, "chat", req.get_header(TAG_HEADER)):
                resp.media = reply(echo=document)

    class Stream:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.stream = achunks(tracer, req.get_header(TAG_HEADER))

    class Error:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            fail(tracer, req.get_header(TAG_HEADER))

    class Plain:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            with tagged_span(tracer, "plain", req.get_header(TAG_HEADER)):
                resp.media = reply()

    app = falcon.asgi.App()
    for path, resource in (("/chat", Chat()), ("/stream", Stream()), ("/error", Error())):
        app.add_route(path, resource)
    app.add_route("/plain", Plain())
    return GenAISessionMiddleware(app, **MIDDLEWARE_OPTIONS)


def build_wsgi(tracer_provider: TracerProvider) -> Any:
    tracer = tracer_provider.get_tracer(__name__)

    class Chat:
        def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
            document = req.get_media()
            with tagged_span(tracer, "chat", req.get_header(TAG_HEADER)):
                resp.media = reply(echo=document)

    class Stream:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.stream = chunks(tracer, req.get_header(TAG_HEADER))

    class Error:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            fail(tracer, req.get_header(TAG_HEADER))

    class Plain:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            with tagged_span(tracer, "plain", req.get_header(TAG_HEADER)):
                resp.media = reply()

    app = falcon.App()
    for path, resource in (("/chat", Chat()), ("/stream", Stream()), ("/error", Error())):
        app.add_route(path, resource)
    app.add_route("/plain", Plain())
    return SessionWSGIMiddleware(app, **MIDDLEWARE_OPTIONS)
