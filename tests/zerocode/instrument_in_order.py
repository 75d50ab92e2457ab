"""Run by test_order.py in a fresh process: OpenTelemetry's instrumentor for a
framework and ours, in a given order, then one request; then both undone and
one more request. Prints one JSON line per phase: the request's spans as
(name, kind, session.id), and whether the framework class is back as it was.

argv: framework (fastapi, starlette, flask, django), order (ours-first, otel-first).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session.instrumentor import GenAISessionInstrumentor

HEADERS = {"X-Session-ID": "conv-1", "X-User-ID": "alice", "X-Tenant-ID": "acme"}
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("app")


def otel_instrumentor(framework: str) -> Any:
    if framework == "fastapi":
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        return FastAPIInstrumentor()
    if framework == "starlette":
        from opentelemetry.instrumentation.starlette import StarletteInstrumentor

        return StarletteInstrumentor()
    if framework == "flask":
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        return FlaskInstrumentor()
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    return DjangoInstrumentor()


def asgi_request(app: Any) -> None:
    import httpx

    async def send() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/chat", headers=HEADERS)).status_code == 200

    asyncio.run(send())


def wsgi_request(app: Any) -> None:
    from werkzeug.test import Client

    assert Client(app).get("/chat", headers=HEADERS).status_code == 200


def serve_one(framework: str) -> None:
    """A new app of ``framework`` (created now, as the app's code would), one request."""
    if framework in ("fastapi", "starlette"):
        if framework == "fastapi":
            import fastapi

            app: Any = fastapi.FastAPI()

            @app.get("/chat")
            async def chat() -> dict[str, str]:
                with tracer.start_as_current_span("app work"):
                    return {"reply": "hello"}
        else:
            from starlette import applications
            from starlette.responses import JSONResponse
            from starlette.routing import Route

            async def endpoint(request: Any) -> JSONResponse:
                with tracer.start_as_current_span("app work"):
                    return JSONResponse({"reply": "hello"})

            app = applications.Starlette(routes=[Route("/chat", endpoint)])
        asgi_request(app)
    elif framework == "flask":
        import flask

        app = flask.Flask(__name__)

        @app.get("/chat")
        def flask_chat() -> dict[str, str]:
            with tracer.start_as_current_span("app work"):
                return {"reply": "hello"}

        wsgi_request(app)
    else:
        from django.core.wsgi import get_wsgi_application

        wsgi_request(get_wsgi_application())


def phase() -> list[tuple[str, str, str | None]]:
    spans = [
        (s.name, s.kind.name, (s.attributes or {}).get("session.id"))
        for s in exporter.get_finished_spans()
    ]
    exporter.clear()
    return spans  # type: ignore[return-value]


def patched(framework: str) -> bool:
    """Whether the framework's own class has our ``__call__``."""
    from otel_genai_session.instrumentor._frameworks import FRAMEWORKS, original_class

    name = {"fastapi": "Starlette/FastAPI", "starlette": "Starlette/FastAPI"}.get(framework)
    wanted = name or {"flask": "Flask", "django": "Django (WSGI)"}[framework]
    owner = original_class(next(f for f in FRAMEWORKS if f.name == wanted))
    return hasattr(vars(owner)["__call__"], "__wrapped__")


def main(framework: str, order: str) -> None:
    if framework == "django":
        os.environ["DJANGO_SETTINGS_MODULE"] = "apps.django_settings"
        import django

        django.setup()
    ours, theirs = GenAISessionInstrumentor(), otel_instrumentor(framework)
    steps = [ours.instrument, theirs.instrument]
    for step in steps if order == "ours-first" else reversed(steps):
        step()
    serve_one(framework)
    print(json.dumps({"instrumented": phase(), "patched": patched(framework)}), flush=True)
    theirs.uninstrument()
    ours.uninstrument()
    serve_one(framework)
    print(json.dumps({"uninstrumented": phase(), "patched": patched(framework)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
