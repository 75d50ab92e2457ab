"""``propagate_baggage=True`` on the WSGI middleware: a Flask front, OpenTelemetry's
WSGI middleware outside or inside ours, calls the ASGI service B of
test_baggage_order through an instrumented httpx client (real servers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask
from opentelemetry import propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_genai_session.middleware import SessionWSGIMiddleware
from tests.hostile._servers import running_werkzeug
from tests.middleware.asgi.support import serve

from .test_baggage_order import A_HEADERS, A_IDS, b_spans, ids, make_b

pytestmark = pytest.mark.servers


@pytest.fixture(autouse=True)
def w3c_global_propagator() -> Iterator[None]:
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    yield
    propagate.set_global_textmap(before)


def make_front(tracer_provider: TracerProvider, b_url: str, ours: str) -> Any:
    front = Flask("front")

    @front.get("/chat")
    def chat() -> dict[str, Any]:
        with httpx.Client(timeout=10) as client:
            HTTPXClientInstrumentor().instrument_client(client, tracer_provider=tracer_provider)
            result: dict[str, Any] = client.get(f"{b_url}/work").json()
        return result

    app: Any = front.wsgi_app
    if ours == "outside":
        app = SessionWSGIMiddleware(
            OpenTelemetryMiddleware(app, tracer_provider=tracer_provider), propagate_baggage=True
        )
    else:
        app = OpenTelemetryMiddleware(
            SessionWSGIMiddleware(app, propagate_baggage=True), tracer_provider=tracer_provider
        )
    front.wsgi_app = app  # type: ignore[method-assign]
    return front


@pytest.mark.parametrize("ours", ["outside", "inside"])
def test_b_spans_carry_the_wsgi_front_request_ids(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter, ours: str
) -> None:
    with serve(make_b(tracer_provider)) as b_url:
        front = make_front(tracer_provider, b_url, ours)
        with running_werkzeug(front) as port:
            seen = httpx.get(f"http://127.0.0.1:{port}/chat", headers=A_HEADERS, timeout=10)

    assert seen.json()["session_id"] == "conv-a"
    (b_span,) = b_spans(exporter)
    assert ids(b_span) == A_IDS
