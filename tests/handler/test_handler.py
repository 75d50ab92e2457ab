"""TelemetryHandler: spans, nesting, errors, metrics, sampling and session attributes."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, StatusCode, TraceState, get_current_span
from opentelemetry.util.types import Attributes

from otel_genai_session import _validation
from otel_genai_session import handler as handler_module
from otel_genai_session.handler import TelemetryHandler, get_telemetry_handler
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.session import session_context
from otel_genai_session.types import (
    AgentInvocation,
    EmbeddingInvocation,
    GenAIInvocation,
    LLMInvocation,
    RetrievalInvocation,
    Step,
    ToolCall,
    Workflow,
)

DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
SESSION_KEYS = ("session.id", "user.id", "customer.id")
ENV_FLAG = "OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION"
ENV_METRIC = "OTEL_INSTRUMENTATION_GENAI_SESSION_METRIC_ATTRIBUTES"


@pytest.fixture(autouse=True)
def _no_handler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_FLAG, raising=False)
    monkeypatch.delenv(ENV_METRIC, raising=False)


@pytest.fixture
def reported() -> Iterator[None]:
    _validation._reported.clear()
    yield
    _validation._reported.clear()


def finished(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def attrs(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def points(reader: InMemoryMetricReader, name: str) -> list[HistogramDataPoint]:
    data = reader.get_metrics_data()
    found: list[HistogramDataPoint] = []
    if data is None:
        return found
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    found.extend(p for p in metric.data.data_points)  # type: ignore[misc]
    return found


KINDS = [
    pytest.param("llm", lambda: LLMInvocation(request_model="gpt-4"), "chat gpt-4", id="llm"),
    pytest.param(
        "embedding",
        lambda: EmbeddingInvocation(request_model="emb", input_texts=["hello"]),
        "embeddings emb",
        id="embedding",
    ),
    pytest.param(
        "retrieval",
        lambda: RetrievalInvocation(query="q", data_source_id="kb"),
        "retrieval kb",
        id="retrieval",
    ),
    pytest.param("tool_call", lambda: ToolCall(name="search"), "execute_tool search", id="tool"),
    pytest.param("agent", lambda: AgentInvocation(name="a"), "invoke_agent a", id="agent"),
    pytest.param("workflow", lambda: Workflow(name="w"), "invoke_workflow w", id="workflow"),
    pytest.param("step", lambda: Step(name="s"), "step s", id="step"),
]


# -- one span per invocation ------------------------------------------------------------


@pytest.mark.parametrize(("kind", "factory", "span_name"), KINDS)
def test_start_and_stop(
    kind: str,
    factory: Callable[[], GenAIInvocation],
    span_name: str,
    handler: TelemetryHandler,
    exporter: InMemorySpanExporter,
) -> None:
    start = getattr(handler, f"start_{kind}")
    stop = getattr(handler, f"stop_{kind}")
    with session_context(session_id="s", user_id="u", customer_id="c"):
        inv = factory()
        assert start(inv) is inv
        assert inv.span is not None
        assert get_current_span() is inv.span
        assert exporter.get_finished_spans() == ()
        assert stop(inv) is inv
    assert inv.span is None
    assert not get_current_span().get_span_context().is_valid
    (span,) = exporter.get_finished_spans()
    assert span.name == span_name
    assert span.kind is inv.span_kind
    assert span.status.status_code is StatusCode.UNSET
    expected = {**inv.semantic_convention_attributes()}
    assert {k: attrs(span)[k] for k in expected} == expected
    assert {k: attrs(span)[k] for k in SESSION_KEYS} == {
        "session.id": "s",
        "user.id": "u",
        "customer.id": "c",
    }
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "otel_genai_session.handler"


@pytest.mark.parametrize(("kind", "factory", "span_name"), KINDS)
def test_context_manager_stops_on_exit(
    kind: str,
    factory: Callable[[], GenAIInvocation],
    span_name: str,
    handler: TelemetryHandler,
    exporter: InMemorySpanExporter,
) -> None:
    manager = getattr(handler, kind)
    inv = factory()
    with manager(inv) as entered:
        assert entered is inv
        assert get_current_span() is inv.span
    (span,) = exporter.get_finished_spans()
    assert span.name == span_name
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in attrs(span)
    assert not get_current_span().get_span_context().is_valid


@pytest.mark.parametrize(("kind", "factory", "span_name"), KINDS)
def test_fail(
    kind: str,
    factory: Callable[[], GenAIInvocation],
    span_name: str,
    handler: TelemetryHandler,
    exporter: InMemorySpanExporter,
) -> None:
    inv = getattr(handler, f"start_{kind}")(factory())
    assert getattr(handler, f"fail_{kind}")(inv, TimeoutError("model timed out")) is inv
    (span,) = exporter.get_finished_spans()
    assert span.name == span_name
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "model timed out"
    assert attrs(span)["error.type"] == "TimeoutError"
    (event,) = span.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "TimeoutError"
    assert not get_current_span().get_span_context().is_valid


@pytest.mark.parametrize(("kind", "factory", "span_name"), KINDS)
def test_context_manager_fails_and_reraises(
    kind: str,
    factory: Callable[[], GenAIInvocation],
    span_name: str,
    handler: TelemetryHandler,
    exporter: InMemorySpanExporter,
) -> None:
    class ProviderError(Exception):
        pass

    error = ProviderError("rate limited")
    with pytest.raises(ProviderError) as caught, getattr(handler, kind)(factory()):
        raise error
    assert caught.value is error
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == ProviderError.__qualname__
    assert not get_current_span().get_span_context().is_valid


def test_context_manager_fails_on_base_exceptions(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(KeyboardInterrupt), handler.llm(LLMInvocation(request_model="m")):
        raise KeyboardInterrupt
    (span,) = exporter.get_finished_spans()
    assert attrs(span)["error.type"] == "KeyboardInterrupt"


def test_error_without_message_has_no_status_description(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    handler.fail(handler.start(ToolCall(name="t")), RuntimeError())
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is None


def test_response_fields_set_while_running_reach_the_span(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    with handler.llm(LLMInvocation(request_model="gpt-4o", provider="openai")) as inv:
        inv.response_model = "gpt-4o-2024-08-06"
        inv.response_id = "chatcmpl-1"
        inv.input_tokens = 12
        inv.output_tokens = 40
        inv.finish_reasons = ["stop"]
        inv.attributes["app.route"] = "/chat"
    span = finished(exporter)["chat gpt-4o"]
    assert attrs(span)["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert attrs(span)["gen_ai.response.id"] == "chatcmpl-1"
    assert attrs(span)["gen_ai.usage.input_tokens"] == 12
    assert attrs(span)["gen_ai.usage.output_tokens"] == 40
    assert attrs(span)["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs(span)["gen_ai.provider.name"] == "openai"
    assert attrs(span)["app.route"] == "/chat"


def test_extra_attributes_are_set_at_start(
    tracer_provider: TracerProvider, metric_reader: InMemoryMetricReader
) -> None:
    seen: list[dict[str, Any]] = []

    class Recorder(SpanProcessor):
        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            seen.append(dict(span.attributes or {}))

    tracer_provider.add_span_processor(Recorder())
    handler = TelemetryHandler(tracer_provider, MeterProvider(metric_readers=[metric_reader]))
    handler.stop(handler.start(Step(name="s", attributes={"app.tenant.tier": "gold"})))
    assert seen[0]["app.tenant.tier"] == "gold"


# -- nesting ----------------------------------------------------------------------------


def test_nested_invocations_are_parent_and_child(
    handler: TelemetryHandler, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with session_context(session_id="s"), handler.workflow(Workflow(name="graph")) as workflow:
        with handler.step(Step(name="plan")):  # noqa: SIM117 (the nesting is the subject)
            with handler.agent(AgentInvocation(name="planner")) as agent:
                with handler.llm(LLMInvocation(request_model="gpt-4")) as llm:
                    tracer_provider.get_tracer("httpx").start_span("POST").end()
                assert get_current_span() is agent.span
                with (
                    handler.tool_call(ToolCall(name="search")),
                    handler.retrieval(RetrievalInvocation(query="q")),
                ):
                    pass
                with handler.embedding(EmbeddingInvocation(request_model="emb")):
                    pass
        assert get_current_span() is workflow.span
    assert llm.span is None
    spans = finished(exporter)
    assert len(spans) == 8

    def parent_of(name: str) -> str | None:
        parent = spans[name].parent
        if parent is None:
            return None
        return next(s.name for s in spans.values() if s.context.span_id == parent.span_id)

    assert parent_of("invoke_workflow graph") is None
    assert parent_of("step plan") == "invoke_workflow graph"
    assert parent_of("invoke_agent planner") == "step plan"
    assert parent_of("chat gpt-4") == "invoke_agent planner"
    assert parent_of("POST") == "chat gpt-4"
    assert parent_of("execute_tool search") == "invoke_agent planner"
    assert parent_of("retrieval") == "execute_tool search"
    assert parent_of("embeddings emb") == "invoke_agent planner"
    assert len({s.context.trace_id for s in spans.values()}) == 1
    assert all(attrs(s)["session.id"] == "s" for s in spans.values())


def test_llm_in_agent_in_workflow_parent_span_ids(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    workflow = handler.start_workflow(Workflow(name="w"))
    agent = handler.start_agent(AgentInvocation(name="a"))
    llm = handler.start_llm(LLMInvocation(request_model="m"))
    handler.stop_llm(llm)
    handler.stop_agent(agent)
    handler.stop_workflow(workflow)
    spans = finished(exporter)
    w, a, m = spans["invoke_workflow w"], spans["invoke_agent a"], spans["chat m"]
    assert w.parent is None
    assert a.parent is not None and a.parent.span_id == w.context.span_id
    assert m.parent is not None and m.parent.span_id == a.context.span_id
    assert m.context.trace_id == a.context.trace_id == w.context.trace_id


def test_siblings_after_stop(handler: TelemetryHandler, exporter: InMemorySpanExporter) -> None:
    with handler.agent(AgentInvocation(name="a")):
        with handler.llm(LLMInvocation(request_model="first")):
            pass
        with handler.llm(LLMInvocation(request_model="second")):
            pass
    spans = finished(exporter)
    agent_id = spans["invoke_agent a"].context.span_id
    assert spans["chat first"].parent is not None
    assert spans["chat first"].parent.span_id == agent_id
    assert spans["chat second"].parent is not None
    assert spans["chat second"].parent.span_id == agent_id


@pytest.mark.anyio
async def test_nesting_across_awaits_and_tasks(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    async def call(model: str) -> None:
        with handler.llm(LLMInvocation(request_model=model)):
            await asyncio.sleep(0.001)

    with handler.agent(AgentInvocation(name="a")):
        await asyncio.gather(call("m1"), call("m2"), call("m3"))
    spans = finished(exporter)
    agent_id = spans["invoke_agent a"].context.span_id
    for model in ("m1", "m2", "m3"):
        parent = spans[f"chat {model}"].parent
        assert parent is not None and parent.span_id == agent_id


def test_stop_in_another_context_ends_the_span_quietly(
    handler: TelemetryHandler,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Started here, stopped in another context (a streamed body's task): the
    span ends, nothing is logged, and *this* context is not left with the
    ended span current: the next span here is the request's child."""
    tracer = tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request") as request:
        inv = handler.start_llm(LLMInvocation(request_model="streamed"))
        assert get_current_span() is inv.span
        with caplog.at_level(logging.WARNING):
            contextvars.copy_context().run(handler.stop_llm, inv)
        assert caplog.records == []
        assert get_current_span().get_span_context() == request.get_span_context()
        tracer.start_span("after").end()
    spans = finished(exporter)
    request_id = spans["request"].context.span_id
    assert [s.name for s in exporter.get_finished_spans()] == ["chat streamed", "after", "request"]
    for name in ("chat streamed", "after"):
        parent = spans[name].parent
        assert parent is not None and parent.span_id == request_id, name
    assert not get_current_span().get_span_context().is_valid


def test_stop_without_start_is_ignored_with_one_warning(
    handler: TelemetryHandler,
    exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    reported: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inv = LLMInvocation(request_model="m")
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        assert handler.stop_llm(inv) is inv
        handler.stop_llm(inv)
        handler.fail_llm(inv, ValueError("x"))
    assert exporter.get_finished_spans() == ()
    assert points(metric_reader, DURATION) == []
    assert [r.getMessage() for r in caplog.records] == [
        "stop called for an invocation that was not started; ignored",
        "fail called for an invocation that was not started; ignored",
    ]


def test_double_stop_ends_the_span_once(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    inv = handler.start_llm(LLMInvocation(request_model="m"))
    handler.stop_llm(inv)
    handler.stop_llm(inv)
    assert len(exporter.get_finished_spans()) == 1


# -- session attributes -----------------------------------------------------------------


def test_explicit_ids_win_over_the_session_on_the_span(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    with (
        session_context(session_id="ctx-s", user_id="ctx-u", customer_id="ctx-c"),
        handler.llm(LLMInvocation(request_model="m", session_id="explicit-s")),
    ):
        pass
    span = finished(exporter)["chat m"]
    assert {k: attrs(span)[k] for k in SESSION_KEYS} == {
        "session.id": "explicit-s",
        "user.id": "ctx-u",
        "customer.id": "ctx-c",
    }


def test_invocation_made_outside_a_session_takes_it_at_start(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    inv = ToolCall(name="t")
    assert inv.session_id is None
    with session_context(session_id="late", customer_id="acme"):
        handler.stop(handler.start(inv))
    assert (inv.session_id, inv.customer_id) == ("late", "acme")
    span = finished(exporter)["execute_tool t"]
    assert attrs(span)["session.id"] == "late"
    assert attrs(span)["customer.id"] == "acme"


def test_env_ids_used_without_a_session(
    handler: TelemetryHandler, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_USER_ID", "env-user")
    with handler.llm(LLMInvocation(request_model="m")) as inv:
        assert inv.user_id == "env-user"
    assert attrs(finished(exporter)["chat m"])["user.id"] == "env-user"


def test_no_session_no_session_attributes(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    with handler.agent(AgentInvocation(name="a")):
        pass
    span = finished(exporter)["invoke_agent a"]
    assert not any(key in attrs(span) for key in (*SESSION_KEYS, "gen_ai.conversation.id"))


class RecordingSampler(Sampler):
    """Samples on the attributes it is given, as a real tenant-aware sampler would."""

    def __init__(self, drop_customer: str | None = None) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.drop_customer = drop_customer

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        seen = dict(attributes or {})
        self.seen.append((name, seen))
        if self.drop_customer is not None and seen.get("customer.id") == self.drop_customer:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "RecordingSampler"


def test_sampler_sees_the_session_attributes(metric_reader: InMemoryMetricReader) -> None:
    sampler = RecordingSampler(drop_customer="noisy-tenant")
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = TelemetryHandler(provider, MeterProvider(metric_readers=[metric_reader]))
    with (
        session_context(session_id="s1", user_id="u1", customer_id="good-tenant"),
        handler.llm(LLMInvocation(request_model="m", provider="openai")),
    ):
        pass
    with (
        session_context(session_id="s2", customer_id="noisy-tenant"),
        handler.agent(AgentInvocation(name="a")),
    ):
        pass
    assert sampler.seen[0][0] == "chat m"
    assert {k: sampler.seen[0][1][k] for k in SESSION_KEYS} == {
        "session.id": "s1",
        "user.id": "u1",
        "customer.id": "good-tenant",
    }
    assert sampler.seen[0][1]["gen_ai.request.model"] == "m"
    assert sampler.seen[0][1]["gen_ai.provider.name"] == "openai"
    assert sampler.seen[1][1]["customer.id"] == "noisy-tenant"
    # The tenant-aware decision took effect: only the good tenant's span was exported.
    assert [s.name for s in exporter.get_finished_spans()] == ["chat m"]


def test_other_processors_on_start_see_the_session_attributes(
    metric_reader: InMemoryMetricReader,
) -> None:
    """Without SessionSpanProcessor: the handler passes the ids to start_span itself."""
    seen: list[dict[str, Any]] = []

    class Recorder(SpanProcessor):
        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            seen.append(dict(span.attributes or {}))

    provider = TracerProvider()
    provider.add_span_processor(Recorder())
    handler = TelemetryHandler(provider, MeterProvider(metric_readers=[metric_reader]))
    with (
        session_context(session_id="s", user_id="u", customer_id="c"),
        handler.workflow(Workflow(name="w")),
    ):
        pass
    assert {k: seen[0][k] for k in SESSION_KEYS} == {
        "session.id": "s",
        "user.id": "u",
        "customer.id": "c",
    }
    assert seen[0]["gen_ai.workflow.name"] == "w"


def test_processor_registered_after_another_still_tags(
    exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    seen: list[dict[str, Any]] = []

    class Recorder(SpanProcessor):
        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            seen.append(dict(span.attributes or {}))

    provider = TracerProvider()
    provider.add_span_processor(Recorder())
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with session_context(session_id="s"):
        provider.get_tracer("t").start_span("plain").end()
    assert seen == [{}]  # a plain span gets the ids from our processor, which runs later
    assert attrs(exporter.get_finished_spans()[0]) == {"session.id": "s"}


# -- gen_ai.conversation.id -----------------------------------------------------------


def _handler(
    provider: TracerProvider, reader: InMemoryMetricReader, **kwargs: Any
) -> TelemetryHandler:
    return TelemetryHandler(provider, MeterProvider(metric_readers=[reader]), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "env", "explicit", "expected"),
    [
        pytest.param({}, None, None, None, id="default-off"),
        pytest.param({}, None, "conv-explicit", "conv-explicit", id="explicit"),
        pytest.param({"conversation_id_from_session": True}, None, None, "sess", id="opt-in"),
        pytest.param(
            {"conversation_id_from_session": True},
            None,
            "conv-explicit",
            "conv-explicit",
            id="explicit-beats-mirror",
        ),
        pytest.param({}, "true", None, "sess", id="env-true"),
        pytest.param({}, " TRUE ", None, "sess", id="env-true-case"),
        pytest.param({}, "false", None, None, id="env-false"),
        pytest.param({}, "1", None, None, id="env-not-true"),
        pytest.param({"conversation_id_from_session": False}, "true", None, None, id="arg-wins"),
    ],
)
def test_conversation_id(
    kwargs: dict[str, Any],
    env: str | None,
    explicit: str | None,
    expected: str | None,
    tracer_provider: TracerProvider,
    metric_reader: InMemoryMetricReader,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if env is not None:
        monkeypatch.setenv(ENV_FLAG, env)
    handler = _handler(tracer_provider, metric_reader, **kwargs)
    with (
        session_context(session_id="sess"),
        handler.llm(LLMInvocation(request_model="m", conversation_id=explicit)),
    ):
        pass
    span = finished(exporter)["chat m"]
    assert attrs(span).get("gen_ai.conversation.id") == expected
    assert attrs(span)["session.id"] == "sess"


def test_conversation_id_mirror_needs_a_session(
    tracer_provider: TracerProvider,
    metric_reader: InMemoryMetricReader,
    exporter: InMemorySpanExporter,
) -> None:
    handler = _handler(tracer_provider, metric_reader, conversation_id_from_session=True)
    with handler.llm(LLMInvocation(request_model="m")):
        pass
    assert "gen_ai.conversation.id" not in attrs(finished(exporter)["chat m"])


# -- metrics ----------------------------------------------------------------------------


def test_llm_metrics(handler: TelemetryHandler, metric_reader: InMemoryMetricReader) -> None:
    with (
        session_context(session_id="s", user_id="u", customer_id="c"),
        handler.llm(
            LLMInvocation(
                request_model="gpt-4o",
                provider="openai",
                server_address="api.openai.com",
                server_port=443,
                temperature=0.2,
            )
        ) as inv,
    ):
        inv.response_model = "gpt-4o-2024"
        inv.input_tokens = 12
        inv.output_tokens = 40
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024",
        "server.address": "api.openai.com",
        "server.port": 443,
    }
    (duration,) = points(metric_reader, DURATION)
    assert dict(duration.attributes or {}) == base
    assert duration.count == 1
    assert 0 <= duration.sum < 5
    assert list(duration.explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    tokens = {
        (p.attributes or {})["gen_ai.token.type"]: (dict(p.attributes or {}), p.sum)
        for p in points(metric_reader, TOKENS)
    }
    assert tokens == {
        "input": ({**base, "gen_ai.token.type": "input"}, 12),
        "output": ({**base, "gen_ai.token.type": "output"}, 40),
    }


def test_metrics_without_token_counts(
    handler: TelemetryHandler, metric_reader: InMemoryMetricReader
) -> None:
    with handler.llm(LLMInvocation(request_model="m")):
        pass
    assert len(points(metric_reader, DURATION)) == 1
    assert points(metric_reader, TOKENS) == []


def test_failed_call_records_duration_with_error_type(
    handler: TelemetryHandler, metric_reader: InMemoryMetricReader
) -> None:
    with (
        pytest.raises(ConnectionError),
        handler.llm(LLMInvocation(request_model="m", provider="openai")),
    ):
        raise ConnectionError("down")
    (duration,) = points(metric_reader, DURATION)
    assert dict(duration.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m",
        "error.type": "ConnectionError",
    }


@pytest.mark.parametrize(
    ("factory", "operation"),
    [
        pytest.param(lambda: EmbeddingInvocation(request_model="e"), "embeddings", id="embedding"),
        pytest.param(lambda: RetrievalInvocation(query="q"), "retrieval", id="retrieval"),
    ],
)
def test_other_model_calls_record_duration(
    factory: Callable[[], GenAIInvocation],
    operation: str,
    handler: TelemetryHandler,
    metric_reader: InMemoryMetricReader,
) -> None:
    inv = factory()
    handler.stop(handler.start(inv))
    (duration,) = points(metric_reader, DURATION)
    assert (duration.attributes or {})["gen_ai.operation.name"] == operation


def test_embedding_input_tokens_metric(
    handler: TelemetryHandler, metric_reader: InMemoryMetricReader
) -> None:
    with handler.embedding(EmbeddingInvocation(request_model="e", input_texts=["a"])) as inv:
        inv.input_tokens = 3
    (point,) = points(metric_reader, TOKENS)
    assert point.sum == 3
    assert (point.attributes or {})["gen_ai.token.type"] == "input"


def test_agent_tool_workflow_step_record_no_client_metrics(
    handler: TelemetryHandler, metric_reader: InMemoryMetricReader
) -> None:
    with (
        handler.workflow(Workflow(name="w")),
        handler.step(Step(name="s")),
        handler.agent(AgentInvocation(name="a")),
        handler.tool_call(ToolCall(name="t")),
    ):
        pass
    assert points(metric_reader, DURATION) == []
    assert points(metric_reader, TOKENS) == []


def test_metrics_carry_no_session_attribute_by_default(
    handler: TelemetryHandler, metric_reader: InMemoryMetricReader, exporter: InMemorySpanExporter
) -> None:
    with (
        session_context(session_id="s", user_id="u", customer_id="c"),
        handler.llm(
            LLMInvocation(request_model="m", conversation_id="conv", input_tokens=1)
        ) as inv,
    ):
        inv.output_tokens = 2
    all_points = [*points(metric_reader, DURATION), *points(metric_reader, TOKENS)]
    assert len(all_points) == 3
    for point in all_points:
        keys = set(point.attributes or {})
        assert not keys & {*SESSION_KEYS, "gen_ai.conversation.id"}
    assert attrs(finished(exporter)["chat m"])["session.id"] == "s"  # the span has them


@pytest.mark.parametrize(
    ("kwargs", "env", "expected_keys"),
    [
        pytest.param(
            {"session_metric_attributes": ["customer.id"]}, None, {"customer.id"}, id="arg"
        ),
        pytest.param(
            {"session_metric_attributes": ("customer.id", "user.id")},
            None,
            {"customer.id", "user.id"},
            id="arg-tuple",
        ),
        pytest.param({}, "customer.id", {"customer.id"}, id="env"),
        pytest.param(
            {}, " session.id , customer.id ,", {"session.id", "customer.id"}, id="env-list"
        ),
        pytest.param({}, "", set(), id="env-empty"),
        pytest.param({"session_metric_attributes": []}, "customer.id", set(), id="arg-wins"),
    ],
)
def test_session_metric_attributes_opt_in(
    kwargs: dict[str, Any],
    env: str | None,
    expected_keys: set[str],
    tracer_provider: TracerProvider,
    metric_reader: InMemoryMetricReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if env is not None:
        monkeypatch.setenv(ENV_METRIC, env)
    handler = _handler(tracer_provider, metric_reader, **kwargs)
    values = {"session.id": "s", "user.id": "u", "customer.id": "c"}
    with (
        session_context(session_id="s", user_id="u", customer_id="c"),
        handler.llm(LLMInvocation(request_model="m", input_tokens=5)),
    ):
        pass
    all_points = [*points(metric_reader, DURATION), *points(metric_reader, TOKENS)]
    assert len(all_points) == 2
    for point in all_points:
        present = {k: v for k, v in (point.attributes or {}).items() if k in SESSION_KEYS}
        assert present == {k: values[k] for k in expected_keys}


@pytest.mark.parametrize(
    ("kwargs", "env", "error"),
    [
        pytest.param({"session_metric_attributes": ["tenant"]}, None, ValueError, id="unknown"),
        pytest.param(
            {"session_metric_attributes": ["customer.id", "session_id"]},
            None,
            ValueError,
            id="one-unknown",
        ),
        pytest.param({}, "customer.id,tenant.id", ValueError, id="env-unknown"),
        pytest.param({"session_metric_attributes": "customer.id"}, None, TypeError, id="str"),
    ],
)
def test_invalid_session_metric_attributes_raise_at_construction(
    kwargs: dict[str, Any],
    env: str | None,
    error: type[Exception],
    tracer_provider: TracerProvider,
    metric_reader: InMemoryMetricReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if env is not None:
        monkeypatch.setenv(ENV_METRIC, env)
    with pytest.raises(error, match="session_metric_attributes"):
        _handler(tracer_provider, metric_reader, **kwargs)


# -- the process-wide handler -----------------------------------------------------------


@pytest.fixture
def fresh_singleton(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler_module, "_handler", None)


def test_get_telemetry_handler_is_a_singleton_with_providers(
    fresh_singleton: None,
    tracer_provider: TracerProvider,
    metric_reader: InMemoryMetricReader,
    exporter: InMemorySpanExporter,
    reported: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    meter_provider = MeterProvider(metric_readers=[metric_reader])
    first = get_telemetry_handler(tracer_provider=tracer_provider, meter_provider=meter_provider)
    assert isinstance(first, TelemetryHandler)
    assert get_telemetry_handler() is first
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        assert get_telemetry_handler(tracer_provider=TracerProvider()) is first
        assert get_telemetry_handler(meter_provider=MeterProvider()) is first
    assert len(caplog.records) == 1
    assert "providers ignored" in caplog.records[0].getMessage()
    with session_context(session_id="s"), first.llm(LLMInvocation(request_model="m")):
        pass
    assert attrs(finished(exporter)["chat m"])["session.id"] == "s"
    assert len(points(metric_reader, DURATION)) == 1


def test_get_telemetry_handler_is_created_once_across_threads(fresh_singleton: None) -> None:
    barrier = threading.Barrier(8)
    handlers: list[TelemetryHandler] = []

    def worker() -> None:
        barrier.wait(timeout=10)
        handlers.append(get_telemetry_handler())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(handlers) == 8
    assert len({id(h) for h in handlers}) == 1
