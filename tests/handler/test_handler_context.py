"""TelemetryHandler stops out of order or in another task (issue 13, item 8).

``start`` makes the invocation's span current; ``stop`` must leave every
context as if the stopped span had never been current there, so that the
next span gets the right parent: after stops out of order in one context, and
in the task that started an invocation another task stopped (a streamed body).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import get_current_span
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.types import AgentInvocation, LLMInvocation


def parents(exporter: InMemorySpanExporter) -> dict[str, str | None]:
    """Each finished span's name -> its parent's name (None for a root)."""
    spans: tuple[ReadableSpan, ...] = exporter.get_finished_spans()
    by_id = {span.context.span_id: span.name for span in spans}
    return {
        span.name: None if span.parent is None else by_id.get(span.parent.span_id, "?")
        for span in spans
    }


def test_start_a_start_b_stop_a_stop_b(
    handler: TelemetryHandler, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("root") as root:
        a = handler.start_llm(LLMInvocation(request_model="a"))
        b = handler.start_llm(LLMInvocation(request_model="b"))
        handler.stop_llm(a)
        assert get_current_span() is b.span  # B still runs: still current
        tracer.start_span("during b").end()
        handler.stop_llm(b)
        assert get_current_span() is root  # not the ended A
        tracer.start_span("after").end()
    assert parents(exporter) == {
        "chat a": "root",
        "chat b": "chat a",
        "during b": "chat b",
        "after": "root",
        "root": None,
    }


def test_three_stopped_in_start_order(
    handler: TelemetryHandler, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("app")
    started = [handler.start_agent(AgentInvocation(name=name)) for name in "xyz"]
    for invocation in started:
        handler.stop_agent(invocation)
    assert not get_current_span().get_span_context().is_valid
    tracer.start_span("next").end()
    assert parents(exporter)["next"] is None


def test_stop_b_then_a_is_plain_nesting(
    handler: TelemetryHandler, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("app")
    a = handler.start_agent(AgentInvocation(name="a"))
    b = handler.start_llm(LLMInvocation(request_model="b"))
    handler.stop_llm(b)
    assert get_current_span() is a.span
    tracer.start_span("in a").end()
    handler.stop_agent(a)
    assert not get_current_span().get_span_context().is_valid
    assert parents(exporter) == {"chat b": "invoke_agent a", "in a": "invoke_agent a",
                                 "invoke_agent a": None}  # fmt: skip


@pytest.mark.anyio
async def test_stop_in_a_spawned_task_leaves_the_starting_task_clean(
    handler: TelemetryHandler, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request"):
        llm = handler.start_llm(LLMInvocation(request_model="m"))

        async def body() -> None:
            await asyncio.sleep(0)
            tracer.start_span("chunk").end()
            handler.stop_llm(llm)
            tracer.start_span("last chunk").end()

        await asyncio.create_task(body())
        tracer.start_span("after body").end()
    assert parents(exporter) == {
        "chunk": "chat m",
        "chat m": "request",
        "last chunk": "request",
        "after body": "request",
        "request": None,
    }


class _Traced:
    """A pure ASGI middleware that starts a span in the request's task after the app."""

    def __init__(self, app: Any, tracer_provider: TracerProvider) -> None:
        self.app = app
        self.tracer = tracer_provider.get_tracer("server")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        with self.tracer.start_as_current_span("request"):
            await self.app(scope, receive, send)
            self.tracer.start_span("after app").end()


@pytest.mark.anyio
async def test_start_in_endpoint_stop_in_streamed_body(
    handler: TelemetryHandler, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Starlette iterates a StreamingResponse's body in a task of its own (ASGI
    spec < 2.4): the chat span stops there, and the request's task must not
    keep it current."""
    tracer = tracer_provider.get_tracer("app")

    async def endpoint(request: Request) -> StreamingResponse:
        llm = handler.start_llm(LLMInvocation(request_model="gpt", stream=True))

        async def tokens() -> AsyncIterator[bytes]:
            for word in (b"a", b"b"):
                await asyncio.sleep(0)
                yield word
            handler.stop_llm(llm)
            tracer.start_span("after stop, body task").end()

        return StreamingResponse(tokens(), media_type="text/plain")

    app = _Traced(Starlette(routes=[Route("/chat", endpoint)]), tracer_provider)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reply = await client.get("/chat")
    assert reply.text == "ab"
    assert parents(exporter) == {
        "chat gpt": "request",
        "after stop, body task": "request",
        "after app": "request",
        "request": None,
    }


@pytest.mark.anyio
async def test_a_stale_current_span_never_writes_to_another_span(
    handler: TelemetryHandler,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """In the starting task, after another task stopped the invocation, the
    current span gives new spans the right parent, but writes through it go to
    the ended span (ignored by the SDK), never to the request's span."""
    tracer = tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request") as request:
        llm = handler.start_llm(LLMInvocation(request_model="m"))
        await asyncio.create_task(asyncio.to_thread(handler.stop_llm, llm))
        stale = get_current_span()
        assert stale.get_span_context() == request.get_span_context()
        assert stale.is_recording() is False
        stale.set_attribute("written.late", 1)
        stale.end()
        assert request.is_recording()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert "written.late" not in (spans["request"].attributes or {})
    assert "written.late" not in (spans["chat m"].attributes or {})
    assert list(spans) == ["chat m", "request"]
