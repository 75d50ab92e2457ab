"""End to end beside the official OpenAI instrumentation (issue 14, item 4).

A FastAPI app with ``GenAISessionMiddleware``, served by uvicorn on 127.0.0.1,
calls a local OpenAI-shaped server through the real ``openai`` client, which
``opentelemetry-instrumentation-genai-openai`` instruments. ``SessionSpanProcessor``
and ``SessionLogRecordProcessor`` sit on the providers. Concurrent requests with
distinct ids (streamed and not, one anonymous): the instrumentation's ``chat``
span and its ``gen_ai.client.inference.operation.details`` event carry exactly
their request's three ids, and nothing of another request's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes
from pydantic import BaseModel

from otel_genai_session import GenAISessionMiddleware, get_session_context

from ._model_server import MODEL, ModelServer
from ._servers import running_uvicorn
from .conftest import Telemetry, make_telemetry

SCOPE = "opentelemetry.instrumentation.genai.openai"
EVENT = "gen_ai.client.inference.operation.details"
ID_KEYS = ("session.id", "user.id", "customer.id")
HEADERS = ("X-Session-ID", "X-User-ID", "X-Tenant-ID")  # the middleware's defaults


class ChatIn(BaseModel):
    message: str
    stream: bool = False


def create_app(client: openai.AsyncOpenAI) -> FastAPI:
    """A chat endpoint as a user would write it: nothing about sessions inside."""
    app = FastAPI()

    @app.post("/chat", response_model=None)
    async def chat(body: ChatIn) -> StreamingResponse | dict[str, Any]:
        messages: Any = [{"role": "user", "content": body.message}]
        if not body.stream:
            completion = await client.chat.completions.create(model=MODEL, messages=messages)
            return {"reply": completion.choices[0].message.content}
        stream = await client.chat.completions.create(
            model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
        )

        async def tokens() -> AsyncIterator[str]:
            async for chunk in stream:  # the chat span ends after the last chunk
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

        return StreamingResponse(tokens(), media_type="text/plain")

    app.add_middleware(GenAISessionMiddleware)
    return app


@dataclass(frozen=True)
class Call:
    message: str
    ids: dict[str, str]  # the three attributes the request's telemetry must carry
    stream: bool

    @property
    def headers(self) -> dict[str, str]:
        return {h: self.ids[k] for h, k in zip(HEADERS, ID_KEYS, strict=True) if k in self.ids}


CALLS = [
    *(
        Call(
            f"question {i}",
            {"session.id": f"conv-{i}", "user.id": f"user-{i}", "customer.id": f"tenant-{i % 3}"},
            stream=i % 2 == 0,
        )
        for i in range(7)
    ),
    Call("anonymous question", {}, stream=True),  # no ids: its telemetry carries none
]


async def play(base_url: str, calls: Sequence[Call]) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as client:

        async def one(call: Call) -> str:
            body = {"message": call.message, "stream": call.stream}
            response = await client.post("/chat", json=body, headers=call.headers)
            response.raise_for_status()
            return response.text if call.stream else str(response.json()["reply"])

        return list(await asyncio.gather(*(one(call) for call in calls)))


def run_scenario(telemetry: Telemetry, calls: Sequence[Call]) -> tuple[ModelServer, list[str]]:
    model = ModelServer(rendezvous=len(calls))
    with running_uvicorn(model.app) as model_url:
        client = openai.AsyncOpenAI(base_url=f"{model_url}/v1", api_key="unused", max_retries=0)
        with running_uvicorn(create_app(client)) as app_url:
            replies = asyncio.run(play(app_url, calls))
    telemetry.tracer_provider.force_flush()
    telemetry.logger_provider.force_flush()
    return model, replies


def _ids(attributes: Any) -> dict[str, str]:
    return {key: attributes[key] for key in ID_KEYS if key in attributes}


def _asked(messages: Any) -> str:
    """The user's message, from a span's JSON string or an event's structured value."""
    parsed = json.loads(messages) if isinstance(messages, str) else messages
    (message,) = parsed
    return str(message["parts"][0]["content"])


def chat_spans_by_message(spans: Sequence[ReadableSpan]) -> dict[str, ReadableSpan]:
    chat = [s for s in spans if s.instrumentation_scope and s.instrumentation_scope.name == SCOPE]
    by_message = {_asked(s.attributes["gen_ai.input.messages"]): s for s in chat}  # type: ignore[index]
    assert len(by_message) == len(chat), "two chat spans for one request"
    return by_message


def test_chat_spans_and_events_carry_exactly_their_requests_ids(instrumented: Telemetry) -> None:
    model, replies = run_scenario(instrumented, CALLS)

    # The app's responses are the model's answers, streamed or not.
    assert replies == [f"echo: {call.message}" for call in CALLS]
    assert model.peak_in_flight == len(CALLS), "the requests did not overlap"
    spans = chat_spans_by_message(instrumented.spans.get_finished_spans())
    assert set(spans) == {call.message for call in CALLS}
    events = [
        record.log_record
        for record in instrumented.logs.get_finished_logs()
        if record.log_record.event_name == EVENT
    ]
    assert len(events) == len(CALLS)
    for event in events:
        asked = _asked(event.attributes["gen_ai.input.messages"])  # type: ignore[index]
        call = next(c for c in CALLS if c.message == asked)
        span = spans[call.message]
        assert span.name == f"chat {MODEL}" and span.kind is SpanKind.CLIENT
        assert bool(span.attributes.get("gen_ai.request.stream")) is call.stream  # type: ignore[union-attr]
        assert _ids(span.attributes) == call.ids, span.name
        assert _ids(event.attributes) == call.ids, call.message
        # The event belongs to its chat span.
        assert (event.trace_id, event.span_id) == (span.context.trace_id, span.context.span_id)


def test_metrics_carry_no_ids_and_count_the_spans_tokens(instrumented: Telemetry) -> None:
    run_scenario(instrumented, CALLS[:3])

    spans = chat_spans_by_message(instrumented.spans.get_finished_spans()).values()
    span_tokens = sum(
        int(s.attributes[key])  # type: ignore[index,arg-type]
        for s in spans
        for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")
    )
    data = instrumented.metrics.get_metrics_data()
    assert data is not None
    points = {
        metric.name: list(metric.data.data_points)  # type: ignore[union-attr]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert "gen_ai.client.operation.duration" in points
    assert sum(p.sum for p in points["gen_ai.client.token.usage"]) == span_tokens  # type: ignore[union-attr]
    for series in points.values():
        for point in series:
            assert not set(ID_KEYS) & set(point.attributes or {}), point.attributes


class RecordingSampler(Sampler):
    """Keeps what a sampler can see when the chat span starts."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[dict[str, Any], str | None]] = {}

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        session_id = get_session_context().session_id
        self.seen[session_id or "-"] = (dict(attributes or {}), session_id)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "RecordingSampler"


def test_a_sampler_sees_no_ids_on_the_chat_span_but_can_read_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the README says about samplers: the official chat span gets the ids
    from the processor, after the sampling decision; the session store is there."""
    sampler = RecordingSampler()
    telemetry = make_telemetry(sampler)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    try:
        run_scenario(telemetry, CALLS[:2])
    finally:
        instrumentor.uninstrument()

    for call in CALLS[:2]:
        attributes, session_id = sampler.seen[call.ids["session.id"]]
        assert attributes["gen_ai.operation.name"] == "chat"
        assert not set(ID_KEYS) & set(attributes)
        assert session_id == call.ids["session.id"]
    spans = chat_spans_by_message(telemetry.spans.get_finished_spans())
    assert _ids(spans[CALLS[0].message].attributes) == CALLS[0].ids
