"""Cross-service propagation over W3C Baggage, with two real services on 127.0.0.1.

The front is a Starlette app under uvicorn with GenAISessionMiddleware; it calls
the back, a Flask app under werkzeug's threaded server with
SessionWSGIMiddleware, through an httpx client instrumented by OpenTelemetry
(which injects ``traceparent`` and ``baggage``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask import Flask
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_genai_session import get_session_context
from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware
from tests.propagation.conftest import UvicornThread, WerkzeugThread

pytestmark = pytest.mark.servers

BAGGAGE_SOURCE = {"session.id": "session_id", "user.id": "user_id", "customer.id": "customer_id"}


def make_back(tracer_provider: TracerProvider, **options: Any) -> Flask:
    back = Flask("back")
    tracer = tracer_provider.get_tracer("back")

    @back.get("/work")
    def work() -> dict[str, Any]:
        with tracer.start_as_current_span("back.work"):
            session = get_session_context()
        return {"session_id": session.session_id, "user_id": session.user_id}

    # OpenTelemetry's own WSGI middleware outside ours: it continues the front's
    # trace from ``traceparent``; ours tags its server span.
    back.wsgi_app = OpenTelemetryMiddleware(  # type: ignore[method-assign]
        SessionWSGIMiddleware(back.wsgi_app, **options), tracer_provider=tracer_provider
    )
    return back


def make_front(tracer_provider: TracerProvider, back_url: str, **options: Any) -> Any:
    tracer = tracer_provider.get_tracer("front")

    async def call_back(request: Request) -> JSONResponse:
        with tracer.start_as_current_span("front.call"):
            async with httpx.AsyncClient(base_url=back_url, timeout=10) as client:
                HTTPXClientInstrumentor().instrument_client(client, tracer_provider=tracer_provider)
                response = await client.get("/work")
        return JSONResponse(response.json())

    app = Starlette(routes=[Route("/chat", call_back)])
    return GenAISessionMiddleware(app, **options)


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def server_spans(exporter: InMemorySpanExporter, timeout: float = 5.0) -> list[ReadableSpan]:
    """The finished SERVER spans, once there is one: OpenTelemetry's WSGI middleware
    ends its span when the server closes the response, after the bytes went out."""
    deadline = time.monotonic() + timeout
    while True:
        spans = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        if spans or time.monotonic() > deadline:
            return spans
        time.sleep(0.01)


def run_pair(
    tracer_provider: TracerProvider,
    serve_asgi: Callable[[Any], UvicornThread],
    serve_wsgi: Callable[[Any], WerkzeugThread],
    front_options: dict[str, Any],
    back_options: dict[str, Any],
    headers: dict[str, str],
) -> dict[str, Any]:
    back = serve_wsgi(make_back(tracer_provider, **back_options))
    front = serve_asgi(make_front(tracer_provider, back.url, **front_options))
    response = httpx.get(f"{front.url}/chat", headers=headers, timeout=10)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def test_back_service_gets_the_front_session_when_propagation_is_on(
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    serve_asgi: Callable[[Any], UvicornThread],
    serve_wsgi: Callable[[Any], WerkzeugThread],
) -> None:
    seen = run_pair(
        tracer_provider,
        serve_asgi,
        serve_wsgi,
        {"propagate_baggage": True},
        {"baggage_mapping": BAGGAGE_SOURCE, "header_mapping": {}},
        {"X-Session-ID": "conv-42", "X-User-ID": "ada"},
    )
    assert seen == {"session_id": "conv-42", "user_id": "ada"}
    (back_span,) = spans_named(exporter, "back.work")
    assert back_span.attributes is not None
    assert back_span.attributes["session.id"] == "conv-42"
    assert back_span.attributes["user.id"] == "ada"
    # Same trace: the instrumented client carried traceparent too, and the back's
    # server span got the ids.
    (front_span,) = spans_named(exporter, "front.call")
    assert back_span.context.trace_id == front_span.context.trace_id
    (server_span,) = server_spans(exporter)
    assert (server_span.attributes or {}).get("session.id") == "conv-42"


def test_no_propagation_when_the_switch_is_off(
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    serve_asgi: Callable[[Any], UvicornThread],
    serve_wsgi: Callable[[Any], WerkzeugThread],
) -> None:
    seen = run_pair(
        tracer_provider,
        serve_asgi,
        serve_wsgi,
        {},
        {"baggage_mapping": BAGGAGE_SOURCE, "header_mapping": {}},
        {"X-Session-ID": "conv-42", "X-User-ID": "ada"},
    )
    assert seen == {"session_id": None, "user_id": None}
    (back_span,) = spans_named(exporter, "back.work")
    assert "session.id" not in (back_span.attributes or {})


@pytest.mark.parametrize(
    ("front_options", "expected_front_session"),
    [
        pytest.param({"propagate_baggage": True}, None, id="baggage-source-off"),
        pytest.param(
            {"propagate_baggage": True, "baggage_mapping": {"session.id": "session_id"}},
            "client-chosen",
            id="baggage-source-on",
        ),
    ],
)
def test_client_baggage_sets_ids_only_when_that_source_is_on(
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    serve_asgi: Callable[[Any], UvicornThread],
    serve_wsgi: Callable[[Any], WerkzeugThread],
    front_options: dict[str, Any],
    expected_front_session: str | None,
) -> None:
    seen = run_pair(
        tracer_provider,
        serve_asgi,
        serve_wsgi,
        front_options,
        {"baggage_mapping": BAGGAGE_SOURCE, "header_mapping": {}},
        {"baggage": "session.id=client-chosen,user.id=mallory"},
    )
    (front_span,) = spans_named(exporter, "front.call")
    assert (front_span.attributes or {}).get("session.id") == expected_front_session
    # The front never forwards client baggage as session keys it does not own.
    assert seen["user_id"] is None
    assert seen["session_id"] == expected_front_session


def test_inbound_baggage_is_validated_and_allow_listed(
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    serve_wsgi: Callable[[Any], WerkzeugThread],
) -> None:
    back = serve_wsgi(
        make_back(tracer_provider, baggage_mapping={"session.id": "session_id"}, header_mapping={})
    )
    # user.id is not allow-listed; the session id carries a control character (%0A).
    response = httpx.get(
        f"{back.url}/work", headers={"baggage": "session.id=a%0Ab,user.id=ada"}, timeout=10
    )
    assert response.json() == {"session_id": None, "user_id": None}
    response = httpx.get(
        f"{back.url}/work", headers={"baggage": "session.id=ok-1,user.id=ada"}, timeout=10
    )
    assert response.json() == {"session_id": "ok-1", "user_id": None}
