"""GenAI invocation types: fields, defaults, span names and semconv attributes."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_genai_session import _validation
from otel_genai_session.handler import TelemetryHandler
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


def make_all() -> list[GenAIInvocation]:
    return [
        GenAIInvocation(),
        LLMInvocation(request_model="gpt-4"),
        EmbeddingInvocation(request_model="emb", input_texts=["a", "b"]),
        RetrievalInvocation(query="where?"),
        ToolCall(name="search"),
        AgentInvocation(name="planner"),
        Workflow(name="graph"),
        Step(name="node"),
    ]


ALL_TYPES = [
    GenAIInvocation,
    LLMInvocation,
    EmbeddingInvocation,
    RetrievalInvocation,
    ToolCall,
    AgentInvocation,
    Workflow,
    Step,
]


@pytest.mark.parametrize("cls", [pytest.param(c, id=c.__name__) for c in ALL_TYPES])
def test_session_fields_are_keyword_only_and_default_to_none(cls: type[GenAIInvocation]) -> None:
    assert issubclass(cls, GenAIInvocation)
    assert dataclasses.is_dataclass(cls)
    parameters = inspect.signature(cls).parameters
    for name in ("session_id", "user_id", "customer_id", "conversation_id"):
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters[name].default is None


@pytest.mark.parametrize("invocation", [pytest.param(i, id=type(i).__name__) for i in make_all()])
def test_defaults_outside_any_session(invocation: GenAIInvocation) -> None:
    assert invocation.session_id is None
    assert invocation.user_id is None
    assert invocation.customer_id is None
    assert invocation.conversation_id is None
    assert invocation.attributes == {}
    assert invocation.span is None
    attributes = invocation.semantic_convention_attributes()
    assert None not in attributes.values()
    for key in ("session.id", "user.id", "customer.id", "gen_ai.conversation.id"):
        assert key not in attributes


def test_base_type_rejects_positional_session_ids() -> None:
    with pytest.raises(TypeError):
        GenAIInvocation("s")  # type: ignore[misc]
    assert LLMInvocation("gpt-4").request_model == "gpt-4"  # own fields may be positional


@pytest.mark.parametrize(
    ("factory", "required"),
    [
        pytest.param(LLMInvocation, "request_model", id="llm"),
        pytest.param(EmbeddingInvocation, "request_model", id="embedding"),
        pytest.param(RetrievalInvocation, "query", id="retrieval"),
        pytest.param(ToolCall, "name", id="tool"),
        pytest.param(AgentInvocation, "name", id="agent"),
        pytest.param(Workflow, "name", id="workflow"),
        pytest.param(Step, "name", id="step"),
    ],
)
def test_required_field(factory: type[GenAIInvocation], required: str) -> None:
    with pytest.raises(TypeError, match=required):
        factory()
    assert inspect.signature(factory).parameters[required].default is inspect.Parameter.empty


def test_explicit_session_ids_are_kept() -> None:
    inv = LLMInvocation(request_model="m", session_id="s", user_id="u", customer_id="c")
    assert (inv.session_id, inv.user_id, inv.customer_id) == ("s", "u", "c")
    attributes = inv.semantic_convention_attributes()
    assert attributes["session.id"] == "s"
    assert attributes["user.id"] == "u"
    assert attributes["customer.id"] == "c"


def test_session_in_effect_fills_fields_at_construction() -> None:
    with session_context(session_id="ctx-s", user_id="ctx-u"):
        inv = ToolCall(name="t", user_id="explicit-u")
    assert (inv.session_id, inv.user_id, inv.customer_id) == ("ctx-s", "explicit-u", None)


def test_conversation_id_only_when_given() -> None:
    with session_context(session_id="s"):
        assert "gen_ai.conversation.id" not in Workflow(name="w").semantic_convention_attributes()
        given = Workflow(name="w", conversation_id="conv-9")
    assert given.semantic_convention_attributes()["gen_ai.conversation.id"] == "conv-9"


@pytest.mark.parametrize(
    ("invocation", "span_name", "kind", "expected"),
    [
        pytest.param(
            LLMInvocation(request_model="gpt-4"),
            "chat gpt-4",
            SpanKind.CLIENT,
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4"},
            id="llm-minimal",
        ),
        pytest.param(
            LLMInvocation(
                request_model="gpt-4o",
                operation="text_completion",
                provider="openai",
                response_model="gpt-4o-2024",
                input_tokens=10,
                output_tokens=20,
                finish_reasons=["stop"],
                response_id="resp-1",
                temperature=0.5,
                top_p=0.9,
                top_k=40.0,
                max_tokens=256,
                stop_sequences=["\n\n"],
                frequency_penalty=0.1,
                presence_penalty=0.2,
                seed=7,
                choice_count=2,
                stream=True,
                output_type="text",
                server_address="api.example.com",
                server_port=443,
            ),
            "text_completion gpt-4o",
            SpanKind.CLIENT,
            {
                "gen_ai.operation.name": "text_completion",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.provider.name": "openai",
                "gen_ai.response.model": "gpt-4o-2024",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 20,
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.response.id": "resp-1",
                "gen_ai.request.temperature": 0.5,
                "gen_ai.request.top_p": 0.9,
                "gen_ai.request.top_k": 40.0,
                "gen_ai.request.max_tokens": 256,
                "gen_ai.request.stop_sequences": ["\n\n"],
                "gen_ai.request.frequency_penalty": 0.1,
                "gen_ai.request.presence_penalty": 0.2,
                "gen_ai.request.seed": 7,
                "gen_ai.request.choice.count": 2,
                "gen_ai.request.stream": True,
                "gen_ai.output.type": "text",
                "server.address": "api.example.com",
                "server.port": 443,
            },
            id="llm-full",
        ),
        pytest.param(
            EmbeddingInvocation(
                request_model="text-embedding-3",
                input_texts=["secret user text"],
                provider="openai",
                dimension_count=1536,
                encoding_formats=["float"],
                input_tokens=5,
            ),
            "embeddings text-embedding-3",
            SpanKind.CLIENT,
            {
                "gen_ai.operation.name": "embeddings",
                "gen_ai.request.model": "text-embedding-3",
                "gen_ai.provider.name": "openai",
                "gen_ai.embeddings.dimension.count": 1536,
                "gen_ai.request.encoding_formats": ["float"],
                "gen_ai.usage.input_tokens": 5,
            },
            id="embedding",
        ),
        pytest.param(
            RetrievalInvocation(query="secret question"),
            "retrieval",
            SpanKind.CLIENT,
            {"gen_ai.operation.name": "retrieval"},
            id="retrieval-minimal",
        ),
        pytest.param(
            RetrievalInvocation(
                query="secret question", data_source_id="kb-1", request_model="rr", top_k=5.0
            ),
            "retrieval kb-1",
            SpanKind.CLIENT,
            {
                "gen_ai.operation.name": "retrieval",
                "gen_ai.data_source.id": "kb-1",
                "gen_ai.request.model": "rr",
                "gen_ai.request.top_k": 5.0,
            },
            id="retrieval",
        ),
        pytest.param(
            RetrievalInvocation(query="q", request_model="rr"),
            "retrieval rr",
            SpanKind.CLIENT,
            {"gen_ai.operation.name": "retrieval", "gen_ai.request.model": "rr"},
            id="retrieval-model-suffix",
        ),
        pytest.param(
            ToolCall(
                name="get_weather",
                call_id="call-1",
                description="Weather lookup",
                tool_type="function",
                arguments={"city": "secret city"},
                result="secret result",
            ),
            "execute_tool get_weather",
            SpanKind.INTERNAL,
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.id": "call-1",
                "gen_ai.tool.description": "Weather lookup",
                "gen_ai.tool.type": "function",
            },
            id="tool",
        ),
        pytest.param(
            AgentInvocation(
                name="planner",
                agent_id="a-1",
                description="Plans",
                version="1.2",
                provider="openai",
                request_model="gpt-4",
            ),
            "invoke_agent planner",
            SpanKind.INTERNAL,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "planner",
                "gen_ai.agent.id": "a-1",
                "gen_ai.agent.description": "Plans",
                "gen_ai.agent.version": "1.2",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4",
            },
            id="agent",
        ),
        pytest.param(
            Workflow(name="graph"),
            "invoke_workflow graph",
            SpanKind.INTERNAL,
            {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "graph"},
            id="workflow",
        ),
        pytest.param(Step(name="node"), "step node", SpanKind.INTERNAL, {}, id="step"),
    ],
)
def test_span_name_kind_and_semconv_attributes(
    invocation: GenAIInvocation, span_name: str, kind: SpanKind, expected: dict[str, object]
) -> None:
    assert invocation.span_name == span_name
    assert invocation.span_kind is kind
    attributes = invocation.semantic_convention_attributes()
    assert attributes == expected
    assert None not in attributes.values()
    assert not any("secret" in str(value) for value in attributes.values())


def test_semconv_attributes_include_the_session_and_omit_none() -> None:
    inv = AgentInvocation(name="a", session_id="s", customer_id="c", conversation_id="conv")
    attributes = inv.semantic_convention_attributes()
    assert attributes == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "a",
        "session.id": "s",
        "customer.id": "c",
        "gen_ai.conversation.id": "conv",
    }
    inv.customer_id = None
    assert "customer.id" not in inv.semantic_convention_attributes()


def test_extra_attributes_are_not_part_of_semconv_attributes() -> None:
    inv = LLMInvocation(request_model="m", attributes={"app.feature": "x"})
    assert inv.attributes == {"app.feature": "x"}
    assert "app.feature" not in inv.semantic_convention_attributes()


def test_mutable_defaults_are_not_shared() -> None:
    a, b = EmbeddingInvocation(request_model="m"), EmbeddingInvocation(request_model="m")
    a.input_texts.append("x")
    a.attributes["k"] = 1
    assert b.input_texts == []
    assert b.attributes == {}
    r1, r2 = RetrievalInvocation(query="q"), RetrievalInvocation(query="q")
    r1.documents.append("doc")
    assert r2.documents == []


# -- every id passes the one rule, also when all three are explicit (issue 13, item 4) --

EVIL = "evil\r\n" + "x" * 500


@pytest.mark.parametrize(
    ("explicit", "expected"),
    [
        pytest.param(
            {"session_id": EVIL, "user_id": "u", "customer_id": "c"},
            (None, "u", "c"),
            id="crlf-and-long-session",
        ),
        pytest.param(
            {"session_id": "s", "user_id": "y" * 201, "customer_id": "c"},
            ("s", None, "c"),
            id="over-long-user",
        ),
        pytest.param(
            {"session_id": "s", "user_id": "u", "customer_id": "bidi\u202e"},
            ("s", "u", None),
            id="format-char-customer",
        ),
        pytest.param(
            {"session_id": 42, "user_id": 7, "customer_id": 9},
            ("42", "7", "9"),
            id="ints-become-str",
        ),
        pytest.param(
            {"session_id": " s ", "user_id": "u", "customer_id": "c"},
            ("s", "u", "c"),
            id="stripped",
        ),
    ],
)
def test_all_three_explicit_ids_are_validated(
    explicit: dict[str, object],
    expected: tuple[str | None, str | None, str | None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _validation._reported.clear()
    with caplog.at_level("WARNING", logger="otel_genai_session"):
        invocation = LLMInvocation(request_model="m", **explicit)  # type: ignore[arg-type]
        LLMInvocation(request_model="m", **explicit)  # type: ignore[arg-type]
    ids = (invocation.session_id, invocation.user_id, invocation.customer_id)
    assert ids == expected
    assert all(value is None or type(value) is str for value in ids)
    dropped = sum(value is None for value in ids)
    assert len(caplog.records) == dropped  # once per cause, not per invocation
    assert "evil" not in caplog.text and "xxxx" not in caplog.text
    _validation._reported.clear()


def test_ids_assigned_after_construction_are_validated_at_start(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    invocation = LLMInvocation(request_model="m", session_id="s", user_id="u", customer_id="c")
    invocation.session_id = EVIL
    invocation.customer_id = 12  # type: ignore[assignment]
    handler.stop_llm(handler.start_llm(invocation))
    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert "session.id" not in attributes
    assert attributes["user.id"] == "u"
    assert attributes["customer.id"] == "12"
