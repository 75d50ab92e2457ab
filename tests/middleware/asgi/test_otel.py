"""Interop with OpenTelemetry's instrumentations: server spans, internal spans and
HTTP client spans made during the request all carry the ids.

Pitfall 51: with our middleware outside OpenTelemetryMiddleware the SERVER span
starts inside the session (SessionSpanProcessor tags it); inside, the middleware
tags the span that is current and recording when the request starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport, HTTPXClientInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_genai_session.middleware import GenAISessionMiddleware

from .apps import Endpoints, Framework, build_app
from .conftest import Connect
from .support import (
    Receive,
    Scope,
    Send,
    async_client,
    ids_from_json,
    ids_of,
    serve,
    wait_until,
)

pytestmark = pytest.mark.anyio

OPTIONS: dict[str, Any] = {"body_mapping": {"user": "user_id"}}
EXPECTED = ("s1", "u-body", None)


def install(
    framework: Framework,
    endpoints: Endpoints,
    tracer_provider: TracerProvider,
    ours: str,
    how: str,
) -> Any:
    otel: dict[str, Any] = {"tracer_provider": tracer_provider, "meter_provider": MeterProvider()}
    app: Any = build_app(framework, endpoints)
    if how == "add_middleware":  # the last one added is the outermost
        first: Any = OpenTelemetryMiddleware
        second: Any = GenAISessionMiddleware
        if ours == "inside":
            first, second = second, first
        app.add_middleware(first, **(OPTIONS if first is GenAISessionMiddleware else otel))
        app.add_middleware(second, **(OPTIONS if second is GenAISessionMiddleware else otel))
        return app
    if ours == "inside":
        return OpenTelemetryMiddleware(GenAISessionMiddleware(app, **OPTIONS), **otel)
    return GenAISessionMiddleware(OpenTelemetryMiddleware(app, **otel), **OPTIONS)


def finished_with_server_span(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    """The exported spans, once the SERVER span (which ends after the last byte
    went out, so possibly after the client has the response) is among them."""

    def has_server_span() -> bool:
        return any(span.kind is SpanKind.SERVER for span in exporter.get_finished_spans())

    wait_until(has_server_span)
    return exporter.get_finished_spans()


def server_span(spans: tuple[ReadableSpan, ...]) -> ReadableSpan:
    [span] = [span for span in spans if span.kind is SpanKind.SERVER]
    return span


@pytest.mark.parametrize("how", ["add_middleware", "wrap"])
@pytest.mark.parametrize("ours", ["outside", "inside"])
async def test_server_and_child_spans_of_the_otel_asgi_middleware(
    framework: Framework,
    endpoints: Endpoints,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    connect: Connect,
    ours: str,
    how: str,
) -> None:
    app = install(framework, endpoints, tracer_provider, ours, how)
    async with connect(app) as client:
        response = await client.post(
            "/echo", headers={"X-Session-ID": "s1"}, json={"user": "u-body"}
        )
    assert ids_from_json(response.json()) == EXPECTED
    spans = finished_with_server_span(exporter)
    assert ids_of(server_span(spans)) == EXPECTED
    names = {span.name for span in spans}
    assert {"echo", "POST /echo http send", "POST /echo http receive"} <= names
    children = [span for span in spans if span.kind is not SpanKind.SERVER]
    assert any(span.name.endswith("http receive") for span in children)
    if ours == "inside":
        # Inside, OpenTelemetry's "http receive" spans are made while we read the
        # body: they carry the ids found before it (the header's), not the body's.
        receiving = [span for span in children if span.name.endswith("http receive")]
        assert {ids_of(span) for span in receiving} == {("s1", None, None)}
        children = [span for span in children if span not in receiving]
    assert {span.name: ids_of(span) for span in children} == {
        span.name: EXPECTED for span in children
    }


@pytest.mark.parametrize("ours", ["outside", "inside"])
async def test_fastapi_native_telemetry_server_span(
    endpoints: Endpoints,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    connect: Connect,
    ours: str,
) -> None:
    """FastAPI's built-in telemetry wraps its whole middleware stack, so
    add_middleware puts us inside it; wrapping the app puts us outside."""
    telemetry: Any = {"tracer_provider": tracer_provider, "metrics": False, "logs": False}
    app: Any = build_app("fastapi", endpoints, telemetry=telemetry)
    if ours == "outside":
        app = GenAISessionMiddleware(app)
    else:
        app.add_middleware(GenAISessionMiddleware)
    async with connect(app) as client:
        response = await client.get("/ids", headers={"X-Session-ID": "s1", "X-User-ID": "u1"})
    assert ids_from_json(response.json()) == ("s1", "u1", None)
    spans = finished_with_server_span(exporter)
    assert ids_of(server_span(spans)) == ("s1", "u1", None)
    assert all(ids_of(span) == ("s1", "u1", None) for span in spans)


async def downstream_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The service the endpoint calls: no spans of its own, just an answer."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_httpx_client_span_in_process(
    make_app: Callable[..., Any],
    endpoints: Endpoints,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    connect: Connect,
) -> None:
    """The transport-level API of opentelemetry-instrumentation-httpx."""

    def client() -> httpx.AsyncClient:
        transport = AsyncOpenTelemetryTransport(
            httpx.ASGITransport(app=downstream_app), tracer_provider=tracer_provider
        )
        return httpx.AsyncClient(transport=transport, base_url="http://downstream")

    endpoints.downstream = client
    async with connect(make_app()) as http:
        response = await http.get("/downstream", headers={"X-Session-ID": "s1"})
    assert response.json()["downstream_status"] == 204
    [client_span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert ids_of(client_span) == ("s1", None, None)


async def test_httpx_client_span_over_the_network(
    make_app: Callable[..., Any],
    endpoints: Endpoints,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    connect: Connect,
) -> None:
    """``instrument_client`` on a real client calling a second real uvicorn server."""
    with serve(downstream_app) as downstream_url:

        def client() -> httpx.AsyncClient:
            instrumented = async_client(downstream_url)
            HTTPXClientInstrumentor.instrument_client(instrumented, tracer_provider=tracer_provider)
            return instrumented

        endpoints.downstream = client
        async with connect(make_app()) as http:
            response = await http.get("/downstream", headers={"X-User-ID": "u1"})
    assert response.json()["downstream_status"] == 204
    [client_span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert ids_of(client_span) == (None, "u1", None)
    assert client_span.attributes is not None
    assert client_span.attributes["http.url"] == f"{downstream_url}/anything"
