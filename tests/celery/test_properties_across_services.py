"""Issue 24, "Done when" 1: a property set from a request header in service A is on
every span of that request in A, on the spans of service B behind it (when
allowed on both sides), and on a Celery task's spans.

Real parts only: service A is a Starlette app under uvicorn (OpenTelemetry's
ASGI middleware outside ours, so its server span starts before the session);
it calls service B, a Flask app under werkzeug's threaded server, through an
instrumented httpx client, and sends a task to a real Celery worker process
over a real Redis broker. Spans of A and B go to the test's in-memory exporter;
the worker writes its own to a file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask
from opentelemetry import propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as ASGIMiddleware
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as WSGIMiddleware
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_genai_session import get_session_context
from otel_genai_session.attributes import PROPERTY_PREFIX
from otel_genai_session.celery import instrument_celery, uninstrument_celery
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES,
)
from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware
from tests.propagation.conftest import UvicornThread, WerkzeugThread
from tests.span_file import read_spans

from . import worker_app
from .conftest import WorkerFactory

pytestmark = pytest.mark.servers

TIMEOUT = 60
EXPERIMENT = PROPERTY_PREFIX + "experiment"
FRONT_OPTIONS: dict[str, Any] = {
    "header_mapping": {"X-Session-ID": "session_id", "X-Experiment": "property:experiment"},
    "propagate_baggage": True,
}


@pytest.fixture
def fresh_global_propagator() -> Iterator[None]:
    """The SDK's default propagators, so ``propagate_baggage`` installs ours anew
    (and reads the allow-list the test sets); the previous one put back after."""
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    yield
    propagate.set_global_textmap(before)


@pytest.fixture
def publisher(redis_socket: str, tracer_provider: TracerProvider) -> Iterator[None]:
    worker_app.configure(redis_socket)
    instrument_celery()
    CeleryInstrumentor().instrument(tracer_provider=tracer_provider)
    try:
        yield
    finally:
        CeleryInstrumentor().uninstrument()
        uninstrument_celery()
        forget_connections()


def forget_connections() -> None:
    """Drop the shared app's connections to this module's Redis (stopped after
    it), as Celery does after a fork, so the next module's broker is used."""
    app = worker_app.app
    app._after_fork()  # the broker pool and the producer pool
    app.control._after_fork()  # the mailbox's producer pool (ping)
    app._backend_cache = None  # the result backend, thread-safe or per thread
    app._local = threading.local()


def make_back(tracer_provider: TracerProvider, **options: Any) -> Flask:
    back = Flask("back")
    tracer = tracer_provider.get_tracer("back")

    @back.get("/work")
    def work() -> dict[str, Any]:
        with tracer.start_as_current_span("back.work"):
            session = get_session_context()
        return {"session_id": session.session_id, "properties": dict(session.properties)}

    back.wsgi_app = WSGIMiddleware(  # type: ignore[method-assign]
        SessionWSGIMiddleware(back.wsgi_app, **options), tracer_provider=tracer_provider
    )
    return back


def make_front(tracer_provider: TracerProvider, back_url: str) -> Any:
    tracer = tracer_provider.get_tracer("front")

    async def chat(request: Request) -> JSONResponse:
        with tracer.start_as_current_span("front.call"):
            async with httpx.AsyncClient(base_url=back_url, timeout=10) as client:
                HTTPXClientInstrumentor().instrument_client(client, tracer_provider=tracer_provider)
                response = await client.get("/work")
            task = worker_app.record.delay("from-front")
        return JSONResponse({"back": response.json(), "task_id": task.id})

    app = GenAISessionMiddleware(Starlette(routes=[Route("/chat", chat)]), **FRONT_OPTIONS)
    return ASGIMiddleware(app, tracer_provider=tracer_provider)


def wait_for_worker() -> None:
    deadline = time.monotonic() + TIMEOUT
    while not worker_app.app.control.ping(timeout=0.5):
        assert time.monotonic() < deadline, "the Celery worker did not answer within 60 s"


def finished(exporter: InMemorySpanExporter, expected: int) -> list[ReadableSpan]:
    """The spans, once ``expected`` have ended (servers end theirs after the bytes)."""
    deadline = time.monotonic() + 10
    while len(exporter.get_finished_spans()) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(exporter.get_finished_spans())


@pytest.mark.parametrize(
    ("allowed_out", "mapped_in", "back_gets_it"),
    [
        pytest.param("experiment", True, True, id="allowed-both-sides"),
        pytest.param("", True, False, id="not-allowed-out"),
        pytest.param("experiment", False, False, id="not-mapped-in"),
    ],
)
def test_a_header_property_reaches_every_span_of_a_b_and_the_task(
    celery_worker_process: WorkerFactory,
    publisher: None,
    fresh_global_propagator: None,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    allowed_out: str,
    mapped_in: bool,
    back_gets_it: bool,
) -> None:
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES, allowed_out)
    spans_file = celery_worker_process("ours-first")
    wait_for_worker()
    baggage_mapping = {"session.id": "session_id"}
    if mapped_in:
        baggage_mapping[EXPERIMENT] = "property:experiment"
    back_options = {"baggage_mapping": baggage_mapping, "header_mapping": {}}

    with (
        WerkzeugThread(make_back(tracer_provider, **back_options)) as back,
        UvicornThread(make_front(tracer_provider, back.url)) as front,
    ):
        response = httpx.get(
            f"{front.url}/chat",
            headers={"X-Session-ID": "conv-a", "X-Experiment": "arm-b"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200
        # A: server, its two "http send", front.call, httpx client, Celery
        # producer; B: server, back.work.
        spans = finished(exporter, expected=8)

    seen = response.json()
    expected_back = {"experiment": "arm-b"} if back_gets_it else {}
    assert seen["back"] == {"session_id": "conv-a", "properties": expected_back}

    front_spans = [s for s in spans if s.instrumentation_scope.name != "back"]
    back_spans = [s for s in spans if s.name == "back.work" or s.name == "GET /work"]
    front_spans = [s for s in front_spans if s not in back_spans]
    assert sorted(s.name for s in back_spans) == ["GET /work", "back.work"]
    assert {"GET /chat", "front.call", "GET", "apply_async/xproc.record"} <= {
        s.name for s in front_spans
    }
    for span in front_spans:
        assert (span.attributes or {}).get(EXPERIMENT) == "arm-b", span.name
    for span in back_spans:
        attributes = span.attributes or {}
        assert attributes.get("session.id") == "conv-a", span.name
        assert attributes.get(EXPERIMENT) == ("arm-b" if back_gets_it else None), span.name

    # The task, in the worker process: the property travelled in its headers.
    result = worker_app.record.AsyncResult(seen["task_id"]).get(timeout=TIMEOUT)
    assert result["properties"] == {"experiment": "arm-b"}
    worker_spans = read_spans(spans_file, expected=3)  # task, task.child, consumer
    assert len(worker_spans) == 3
    for record in worker_spans:
        assert record["attributes"].get(EXPERIMENT) == "arm-b", record
        assert record["attributes"].get("session.id") == "conv-a", record
