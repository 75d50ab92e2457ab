"""``propagate_baggage=True`` in every middleware order: two real uvicorn services.

Service A (FastAPI, our middleware plus one of OpenTelemetry's ASGI middleware,
FastAPIInstrumentor or FastAPI's built-in telemetry, ours outside or inside)
calls service B through an OpenTelemetry-instrumented httpx client. B reads the
ids from the ``baggage`` header with ``baggage_mapping``; its spans must carry
A's request ids. Each of those instrumentations attaches a freshly extracted
Context for the request, which wiped baggage attached by an outer middleware:
the ids are now written at inject time, from the session in effect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry import propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_genai_session import get_session_context, session_context
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.propagation import SessionBaggagePropagator
from tests.middleware.asgi.support import serve, wait_until

pytestmark = pytest.mark.servers

BAGGAGE_SOURCE = {"session.id": "session_id", "user.id": "user_id", "customer.id": "customer_id"}
A_HEADERS = {"X-Session-ID": "conv-a", "X-User-ID": "ada", "X-Tenant-ID": "acme"}
A_IDS = {"session.id": "conv-a", "user.id": "ada", "customer.id": "acme"}
STACKS = ("otel-asgi", "fastapi-instrumentor", "fastapi-native_telemetry")


@pytest.fixture(autouse=True)
def w3c_global_propagator() -> Iterator[None]:
    """OpenTelemetry's default propagators, restored afterwards (the tests install ours)."""
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    yield
    propagate.set_global_textmap(before)


def make_b(tracer_provider: TracerProvider) -> Any:
    """B: reads the ids from baggage (allow-listed), answers with what it saw."""
    tracer = tracer_provider.get_tracer("b")
    b = FastAPI()

    @b.get("/work")
    async def work(request: Request) -> dict[str, Any]:
        with tracer.start_as_current_span("b.work"):
            session = get_session_context()
        return {
            "baggage": request.headers.get("baggage"),
            "session_id": session.session_id,
            "user_id": session.user_id,
            "customer_id": session.customer_id,
        }

    return GenAISessionMiddleware(b, baggage_mapping=BAGGAGE_SOURCE, header_mapping={})


def make_a(
    tracer_provider: TracerProvider, b_url: str, stack: str, ours: str, **options: Any
) -> Any:
    """A: one instrumentation, ours outside (wrapping the app) or inside it."""
    telemetry: Any = {"tracer_provider": tracer_provider, "metrics": False, "logs": False}
    a = FastAPI(telemetry=telemetry) if stack == "fastapi-native_telemetry" else FastAPI()

    async def call_b(nested: str | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=b_url, timeout=10) as client:
            HTTPXClientInstrumentor().instrument_client(client, tracer_provider=tracer_provider)
            if nested is None:
                response = await client.get("/work")
            else:
                async with session_context(session_id=nested):
                    response = await client.get("/work")
        result: dict[str, Any] = response.json()
        return result

    @a.get("/chat")
    async def chat() -> dict[str, Any]:
        return await call_b()

    @a.get("/nested")
    async def nested() -> list[dict[str, Any]]:
        return [await call_b("conv-nested"), await call_b()]

    options = {"propagate_baggage": True, **options}
    if stack == "otel-asgi":
        otel = {"tracer_provider": tracer_provider, "meter_provider": MeterProvider()}
        if ours == "outside":
            return GenAISessionMiddleware(OpenTelemetryMiddleware(a, **otel), **options)
        return OpenTelemetryMiddleware(GenAISessionMiddleware(a, **options), **otel)
    if stack == "fastapi-instrumentor":
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # instrument_app puts OpenTelemetry's middleware around the whole stack.
        FastAPIInstrumentor.instrument_app(
            a, tracer_provider=tracer_provider, meter_provider=MeterProvider()
        )
    # FastAPIInstrumentor and the built-in telemetry both sit around the middleware
    # stack: add_middleware puts ours inside them, wrapping the app puts it outside.
    if ours == "outside":
        return GenAISessionMiddleware(a, **options)
    a.add_middleware(GenAISessionMiddleware, **options)
    return a


def b_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == "b.work"]


def ids(span: ReadableSpan) -> dict[str, Any]:
    return {key: (span.attributes or {}).get(key) for key in A_IDS}


@pytest.fixture
def services(tracer_provider: TracerProvider, request: pytest.FixtureRequest) -> Iterator[Any]:
    with ExitStack() as stack:

        def start(stack_name: str, ours: str, **options: Any) -> str:
            b_url = stack.enter_context(serve(make_b(tracer_provider)))
            a = make_a(tracer_provider, b_url, stack_name, ours, **options)
            return stack.enter_context(serve(a))

        yield start


@pytest.mark.parametrize("ours", ["outside", "inside"])
@pytest.mark.parametrize("stack", STACKS)
def test_b_spans_carry_a_request_ids_in_every_order(
    services: Any, exporter: InMemorySpanExporter, stack: str, ours: str
) -> None:
    a_url = services(stack, ours)

    seen = httpx.get(f"{a_url}/chat", headers=A_HEADERS, timeout=10).json()

    assert seen["baggage"] is not None, "no baggage header reached B"
    assert (seen["session_id"], seen["user_id"], seen["customer_id"]) == ("conv-a", "ada", "acme")
    (b_span,) = b_spans(exporter)
    assert ids(b_span) == A_IDS
    # A's own client span, and its server span, carry the ids too.
    wait_until(lambda: any(s.kind is SpanKind.SERVER for s in exporter.get_finished_spans()))
    for span in exporter.get_finished_spans():
        if span.kind in (SpanKind.CLIENT, SpanKind.SERVER):
            assert ids(span) == A_IDS, span.name


@pytest.mark.parametrize("ours", ["outside", "inside"])
@pytest.mark.parametrize("stack", STACKS)
def test_a_nested_session_changes_what_goes_out_and_leaving_it_restores(
    services: Any, exporter: InMemorySpanExporter, stack: str, ours: str
) -> None:
    a_url = services(stack, ours)

    inner, after = httpx.get(f"{a_url}/nested", headers=A_HEADERS, timeout=10).json()

    assert (inner["session_id"], inner["user_id"]) == ("conv-nested", "ada")
    assert (after["session_id"], after["user_id"]) == ("conv-a", "ada")
    assert [ids(span)["session.id"] for span in b_spans(exporter)] == ["conv-nested", "conv-a"]


@pytest.mark.parametrize("ours", ["outside", "inside"])
@pytest.mark.parametrize("stack", STACKS)
def test_a_client_baggage_never_rides_along_as_a_session(
    services: Any, exporter: InMemorySpanExporter, stack: str, ours: str
) -> None:
    """OpenTelemetry's server instrumentation extracts the client's baggage into
    the Context, and the W3C propagator forwards it; our session keys are
    replaced (or removed), the client's other entries are left as they were."""
    a_url = services(stack, ours)
    client_baggage = {"baggage": "session.id=mallory,user.hash=forged,region=eu"}

    only_session = httpx.get(
        f"{a_url}/chat", headers={"X-Session-ID": "conv-a", **client_baggage}, timeout=10
    ).json()
    no_ids = httpx.get(f"{a_url}/chat", headers=client_baggage, timeout=10).json()

    assert (only_session["session_id"], only_session["user_id"]) == ("conv-a", None)
    assert "mallory" not in only_session["baggage"] and "forged" not in only_session["baggage"]
    assert no_ids["session_id"] is None and no_ids["user_id"] is None
    assert "mallory" not in (no_ids["baggage"] or "")
    if stack != "fastapi-native_telemetry":  # contrib's middleware extracts baggage
        assert "region=eu" in only_session["baggage"]
    assert [ids(span)["session.id"] for span in b_spans(exporter)] == ["conv-a", None]


def test_no_header_written_when_propagation_is_off(
    services: Any, exporter: InMemorySpanExporter
) -> None:
    a_url = services("otel-asgi", "outside", propagate_baggage=False)

    seen = httpx.get(f"{a_url}/chat", headers=A_HEADERS, timeout=10).json()

    assert seen["baggage"] is None
    assert seen["session_id"] is None
    (b_span,) = b_spans(exporter)
    assert ids(b_span)["session.id"] is None


def test_a_propagator_in_the_global_composite_sends_every_session(
    services: Any, exporter: InMemorySpanExporter
) -> None:
    """Without ``propagate_baggage``: the propagator the application put in its
    composite (as ``OTEL_PROPAGATORS=...,genai_session`` does) writes the ids."""
    propagate.set_global_textmap(
        CompositePropagator(
            [TraceContextTextMapPropagator(), W3CBaggagePropagator(), SessionBaggagePropagator()]
        )
    )
    a_url = services("otel-asgi", "outside", propagate_baggage=False)

    seen = httpx.get(f"{a_url}/chat", headers=A_HEADERS, timeout=10).json()

    assert (seen["session_id"], seen["user_id"], seen["customer_id"]) == ("conv-a", "ada", "acme")
    (b_span,) = b_spans(exporter)
    assert ids(b_span) == A_IDS
