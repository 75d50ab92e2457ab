"""Our middleware next to OpenTelemetry's own server instrumentation (pitfall 51).

Both orders, for the generic ASGI and WSGI ``OpenTelemetryMiddleware`` and the
FastAPI and Flask instrumentors. Recommended: ours *outside*. Then the SERVER
span starts inside the session, so the ids are on it from its start (samplers
and processors see them) and on every span OpenTelemetry creates for the
request. Inside, the middleware still puts the ids on the SERVER span (it tags
the span current at request start), and the app's spans carry them, but the
``http receive`` spans of a body the middleware reads for ids can only have the
ids known before that body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as AsgiOtel
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as WsgiOtel
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware

from .apps import flask_app, starlette_app
from .apps.common import MIDDLEWARE_OPTIONS
from .clients import asgi_client, send, send_async, wsgi_client
from .scenario import CHAT_BODY, STEPS, SpanRecord

IDS = {"session.id": "sess-hdr", "user.id": "user-cookie", "customer.id": "cust-body"}
ORDERS = [pytest.param("outside", id="ours-outside"), pytest.param("inside", id="ours-inside")]
CHAT = next(step for step in STEPS if step.id == "ids")
NO_IDS = next(step for step in STEPS if step.id == "no-ids")


def _server_span(spans: tuple[ReadableSpan, ...]) -> SpanRecord:
    servers = [span for span in spans if span.kind is SpanKind.SERVER]
    assert len(servers) == 1, [span.name for span in spans]
    return SpanRecord.of(servers[0])


def _sessions(spans: tuple[ReadableSpan, ...]) -> dict[str, list[dict[str, Any]]]:
    """Session attributes per span name, for the failure message and the checks."""
    found: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        found.setdefault(span.name, []).append(SpanRecord.of(span).session())
    return found


def _assert_ids(spans: tuple[ReadableSpan, ...], order: str, body_read: bool) -> None:
    sessions = _sessions(spans)
    assert _server_span(spans).session() == IDS, sessions
    assert sessions["chat"] == [IDS]
    for name, values in sessions.items():
        if order == "inside" and body_read and name.endswith("http receive"):
            # Read by our middleware while it looks for ids: such a span can only
            # have the ids known before the body (never a foreign or a wrong one).
            assert all(value.items() <= IDS.items() for value in values), sessions
        else:
            assert all(value == IDS for value in values), (name, sessions)


def _assert_no_ids(spans: tuple[ReadableSpan, ...]) -> None:
    """The request without ids made spans (its server span among them), none with an id."""
    assert _server_span(spans).session() == {}
    assert [name for name, values in _sessions(spans).items() if any(values)] == []


# -- ASGI -----------------------------------------------------------------------


@pytest.mark.compat("OpenTelemetry ASGI middleware")
@pytest.mark.anyio
@pytest.mark.parametrize("order", ORDERS)
async def test_asgi_opentelemetry_middleware(
    order: str, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    app = starlette_app.bare(tracer_provider)
    if order == "outside":
        wrapped: Any = GenAISessionMiddleware(
            AsgiOtel(app, tracer_provider=tracer_provider), **MIDDLEWARE_OPTIONS
        )
    else:
        wrapped = AsgiOtel(
            GenAISessionMiddleware(app, **MIDDLEWARE_OPTIONS), tracer_provider=tracer_provider
        )
    async with asgi_client(wrapped) as client:
        reply = await send_async(client, CHAT)
        assert reply.json()["echo"] == CHAT_BODY
        spans = exporter.get_finished_spans()
        _assert_ids(spans, order, body_read=True)

        exporter.clear()
        await send_async(client, NO_IDS)
    _assert_no_ids(exporter.get_finished_spans())


def _fastapi(order: str, tracer_provider: TracerProvider) -> Any:
    from fastapi import FastAPI
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    from .apps.common import reply, tagged_span

    tracer = tracer_provider.get_tracer(__name__)
    app = FastAPI()

    @app.post("/chat")
    async def chat(document: dict[str, Any]) -> dict[str, Any]:
        with tagged_span(tracer, "chat", "ids"):
            return reply(echo=document)

    if order == "inside":
        app.add_middleware(GenAISessionMiddleware, **MIDDLEWARE_OPTIONS)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
    return GenAISessionMiddleware(app, **MIDDLEWARE_OPTIONS) if order == "outside" else app


@pytest.mark.compat("FastAPIInstrumentor")
@pytest.mark.anyio
@pytest.mark.parametrize("order", ORDERS)
async def test_fastapi_instrumentor(
    order: str, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """``FastAPIInstrumentor.instrument_app`` puts OpenTelemetry's middleware
    outermost in FastAPI's stack: ``add_middleware`` is therefore *inside* it,
    and wrapping the instrumented app is outside."""
    pytest.importorskip(
        "opentelemetry.instrumentation.fastapi",
        reason="opentelemetry-instrumentation-fastapi is not installed (the 'test' extra)",
    )
    async with asgi_client(_fastapi(order, tracer_provider)) as client:
        reply = await send_async(client, CHAT)
    assert reply.json()["echo"] == CHAT_BODY
    _assert_ids(exporter.get_finished_spans(), order, body_read=True)


# -- WSGI -----------------------------------------------------------------------


def _wsgi_composed(order: str, tracer_provider: TracerProvider) -> Any:
    app = flask_app.bare(tracer_provider)
    inner = app.wsgi_app
    if order == "outside":
        app.wsgi_app = SessionWSGIMiddleware(  # type: ignore[method-assign]
            WsgiOtel(inner, tracer_provider=tracer_provider), **MIDDLEWARE_OPTIONS
        )
    else:
        app.wsgi_app = WsgiOtel(  # type: ignore[method-assign]
            SessionWSGIMiddleware(inner, **MIDDLEWARE_OPTIONS), tracer_provider=tracer_provider
        )
    return app


def _flask_instrumentor(order: str, tracer_provider: TracerProvider) -> Any:
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    app = flask_app.bare(tracer_provider)
    if order == "inside":
        app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app, **MIDDLEWARE_OPTIONS)  # type: ignore[method-assign]
    FlaskInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
    if order == "outside":
        app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app, **MIDDLEWARE_OPTIONS)  # type: ignore[method-assign]
    return app


def _flask_instrumentor_available() -> bool:
    try:
        import opentelemetry.instrumentation.flask  # noqa: F401
    except ImportError:
        return False
    return True


WSGI_SETUPS = [
    pytest.param(
        _wsgi_composed,
        id="wsgi-OpenTelemetryMiddleware",
        marks=pytest.mark.compat("OpenTelemetry WSGI middleware"),
    ),
    pytest.param(
        _flask_instrumentor,
        id="FlaskInstrumentor",
        marks=[
            pytest.mark.compat("FlaskInstrumentor"),
            pytest.mark.skipif(
                not _flask_instrumentor_available(),
                reason="opentelemetry-instrumentation-flask not installed (its releases can "
                "lag the other instrumentations); tox env 'interop' runs it",
            ),
        ],
    ),
]


@pytest.mark.parametrize("setup", WSGI_SETUPS)
@pytest.mark.parametrize("order", ORDERS)
def test_wsgi_instrumentation(
    setup: Callable[[str, TracerProvider], Any],
    order: str,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """The WSGI instrumentation reads no body, so both orders give every span the ids."""
    with wsgi_client(setup(order, tracer_provider)) as client:
        reply = send(client, CHAT)
        assert reply.json()["echo"] == CHAT_BODY
        _assert_ids(exporter.get_finished_spans(), order, body_read=False)

        exporter.clear()
        send(client, NO_IDS)
    _assert_no_ids(exporter.get_finished_spans())
