"""``gen_ai.conversation.id`` from the session on the official OpenAI instrumentation's
``chat`` spans and events (issue 24, item 4; "Done when", second bullet).

The real ``openai`` client calls a local OpenAI-shaped server through
``opentelemetry-instrumentation-genai-openai``; our processors sit on the
providers with ``conversation_id_from_session`` on or off. On, the ``chat``
span and its ``gen_ai.client.inference.operation.details`` event carry the
session id as the conversation id; off (the default), neither has one. A
conversation id the official stack sets itself (from an enclosing agent run)
is the one exported, on or off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import openai
import pytest
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.genai.handler import TelemetryHandler as UpstreamHandler

from otel_genai_session import SessionLogRecordProcessor, SessionSpanProcessor, session_context

from ._model_server import MODEL, ModelServer
from ._servers import running_uvicorn

SCOPE = "opentelemetry.instrumentation.genai.openai"
EVENT = "gen_ai.client.inference.operation.details"
CONVERSATION = "gen_ai.conversation.id"
FLAG = "OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION"
MESSAGES: Any = [{"role": "user", "content": "hi"}]


class Stack:
    """The official instrumentation on providers with our processors first."""

    def __init__(self, conversation_id_from_session: bool | None) -> None:
        option = {"conversation_id_from_session": conversation_id_from_session}
        self.spans, self.logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SessionSpanProcessor(**option))
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SessionLogRecordProcessor(**option))
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        self.meter_provider = MeterProvider()

    def chat_spans(self) -> list[ReadableSpan]:
        finished = self.spans.get_finished_spans()
        return [
            s for s in finished if s.instrumentation_scope and s.instrumentation_scope.name == SCOPE
        ]

    def events(self) -> list[dict[str, Any]]:
        records = [data.log_record for data in self.logs.get_finished_logs()]
        return [dict(r.attributes or {}) for r in records if r.event_name == EVENT]


@pytest.fixture
def model_url() -> Iterator[str]:
    with running_uvicorn(ModelServer().app) as url:
        yield f"{url}/v1"


def instrumented(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> OpenAIInstrumentor:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "true")  # events, no content
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=stack.tracer_provider,
        logger_provider=stack.logger_provider,
        meter_provider=stack.meter_provider,
    )
    return instrumentor


def chat_both_ways(model_url: str) -> list[str]:
    """One plain and one streamed ``chat`` call, as an application makes them."""
    with openai.OpenAI(base_url=model_url, api_key="unused", max_retries=0) as client:
        completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    replies = [str(completion.choices[0].message.content)]

    async def streamed() -> str:
        async with openai.AsyncOpenAI(
            base_url=model_url, api_key="unused", max_retries=0
        ) as async_client:
            stream = await async_client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            parts = [c.choices[0].delta.content async for c in stream if c.choices]
        return "".join(p for p in parts if p)

    replies.append(asyncio.run(streamed()))
    return replies


def conversation_ids(items: Sequence[Any]) -> list[object]:
    return [dict(getattr(item, "attributes", item) or {}).get(CONVERSATION) for item in items]


@pytest.mark.parametrize(
    ("option", "variable", "expected"),
    [
        pytest.param(True, None, "conv-42", id="on"),
        pytest.param(None, "true", "conv-42", id="on-by-the-variable"),
        pytest.param(False, None, None, id="off"),
        pytest.param(None, None, None, id="off-by-default"),
    ],
)
def test_chat_spans_and_events_carry_the_session_id_only_when_asked(
    option: bool | None,
    variable: str | None,
    expected: str | None,
    model_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if variable is None:
        monkeypatch.delenv(FLAG, raising=False)
    else:
        monkeypatch.setenv(FLAG, variable)
    stack = Stack(option)
    instrumentor = instrumented(stack, monkeypatch)
    try:
        with session_context(session_id="conv-42", user_id="alice"):
            replies = chat_both_ways(model_url)
    finally:
        instrumentor.uninstrument()

    assert replies == ["echo: hi", "echo: hi"]
    spans = stack.chat_spans()
    assert [s.name for s in spans] == [f"chat {MODEL}"] * 2
    assert [bool(s.attributes.get("gen_ai.request.stream")) for s in spans] == [False, True]  # type: ignore[union-attr]
    assert conversation_ids(spans) == [expected, expected]
    assert all(s.attributes["session.id"] == "conv-42" for s in spans)  # type: ignore[index]
    events = stack.events()
    assert len(events) == 2
    assert conversation_ids(events) == [expected, expected]
    assert all(e["session.id"] == "conv-42" for e in events)


@pytest.mark.parametrize("option", [True, False], ids=["on", "off"])
def test_a_conversation_id_the_official_stack_sets_is_not_overwritten(
    option: bool, model_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent run gives its chat calls a conversation id of its own (the official
    util's ambient conversation id): that one is exported, not the session's."""
    stack = Stack(option)
    instrumentor = instrumented(stack, monkeypatch)
    upstream = UpstreamHandler(
        tracer_provider=stack.tracer_provider,
        meter_provider=stack.meter_provider,
        logger_provider=stack.logger_provider,
    )
    try:
        with (
            session_context(session_id="conv-42"),
            upstream.invoke_local_agent(agent_name="planner", conversation_id="thread-upstream"),
        ):
            replies = chat_both_ways(model_url)
    finally:
        instrumentor.uninstrument()

    assert replies == ["echo: hi", "echo: hi"]
    spans = stack.chat_spans()
    assert len(spans) == 2
    assert conversation_ids(spans) == ["thread-upstream"] * 2
    assert conversation_ids(stack.events()) == ["thread-upstream"] * 2
    (agent,) = [s for s in stack.spans.get_finished_spans() if s.name.startswith("invoke_agent")]
    assert agent.attributes[CONVERSATION] == "thread-upstream"  # type: ignore[index]
    # The session is still on every span, whatever the conversation.
    assert all(s.attributes["session.id"] == "conv-42" for s in (*spans, agent))  # type: ignore[index]
