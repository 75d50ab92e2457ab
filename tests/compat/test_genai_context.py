"""Splunk's GenAI context API at ``opentelemetry.util.genai.handler`` (issue 24, item 5).

The behaviour is that of Splunk's own test module for it
(``util/opentelemetry-util-genai/tests/test_genai_context.py`` in
signalfx/splunk-otel-python-contrib), rewritten here against the compat paths
and checked on exported spans as well as on invocation objects, plus what
being a layer over the session means: the conversation id is the session id,
the properties are the session's, and a session set without this API gets no
``gen_ai.conversation.id`` unless the application opts in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.genai import genai_context as root_genai_context
from opentelemetry.util.genai.attributes import GEN_AI_ASSOCIATION_PROPERTIES_PREFIX
from opentelemetry.util.genai.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION,
)
from opentelemetry.util.genai.handler import (
    GenAIContext,
    TelemetryHandler,
    _apply_genai_context,
    clear_genai_context,
    genai_context,
    get_genai_context,
    get_session_context,
    get_telemetry_handler,
    session_context,
    set_genai_context,
    set_session_context,
)
from opentelemetry.util.genai.types import (
    AgentInvocation,
    EmbeddingInvocation,
    GenAIInvocation,
    LLMInvocation,
    RetrievalInvocation,
    Step,
    ToolCall,
    Workflow,
)

from otel_genai_session.attributes import PROPERTY_PREFIX
from otel_genai_session.session import EMPTY_SESSION

CONVERSATION = "gen_ai.conversation.id"


def association(key: str) -> str:
    return f"gen_ai.association.properties.{key}"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As Splunk's setup/teardown: no context before or after, the switch unset."""
    monkeypatch.delenv(OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION, raising=False)
    clear_genai_context()
    yield
    clear_genai_context()


def attrs(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def finished(exporter: InMemorySpanExporter) -> dict[str, Mapping[str, Any]]:
    return {span.name: attrs(span) for span in exporter.get_finished_spans()}


# -- GenAIContext ---------------------------------------------------------------------


def test_context_with_all_fields() -> None:
    context = GenAIContext(
        conversation_id="conv-123", properties={"user.id": "alice", "customer.id": "acme"}
    )
    assert context.conversation_id == "conv-123"
    assert context.properties == {"user.id": "alice", "customer.id": "acme"}


def test_context_partial_and_empty() -> None:
    assert GenAIContext(conversation_id="conv-123").properties == {}
    empty = GenAIContext()
    assert (empty.conversation_id, empty.properties) == (None, {})


@pytest.mark.parametrize(
    ("context", "empty"),
    [
        (GenAIContext(), True),
        (GenAIContext(conversation_id="c"), False),
        (GenAIContext(properties={"k": "v"}), False),
    ],
)
def test_context_is_empty(context: GenAIContext, empty: bool) -> None:
    assert context.is_empty() is empty


def test_each_context_has_its_own_properties() -> None:
    first, second = GenAIContext(), GenAIContext()
    first.properties["k"] = "v"
    assert "k" not in second.properties


# -- set / get / clear ----------------------------------------------------------------


def test_set_and_get() -> None:
    set_genai_context(conversation_id="conv-abc", properties={"user.id": "alice"})
    context = get_genai_context()
    assert (context.conversation_id, context.properties) == ("conv-abc", {"user.id": "alice"})


def test_set_conversation_only_and_properties_only() -> None:
    set_genai_context(conversation_id="conv-xyz")
    assert get_genai_context() == GenAIContext("conv-xyz", {})
    set_genai_context(properties={"tenant": "acme"})  # replaces: no conversation any more
    assert get_genai_context() == GenAIContext(None, {"tenant": "acme"})


def test_clear_and_get_when_not_set() -> None:
    assert get_genai_context() == GenAIContext()
    set_genai_context(conversation_id="conv-123", properties={"k": "v"})
    clear_genai_context()
    assert get_genai_context() == GenAIContext()
    assert get_genai_context().is_empty()
    assert get_session_context() is EMPTY_SESSION  # as clear_session_context() leaves it


def test_the_context_returned_is_a_snapshot() -> None:
    """Changing what get_genai_context returned changes nothing in effect (Splunk's
    returns the object in effect; ours is a view of the shared, immutable session)."""
    set_genai_context(conversation_id="conv-1", properties={"k": "v"})
    snapshot = get_genai_context()
    snapshot.properties["other"] = "x"
    snapshot.conversation_id = "changed"
    assert get_genai_context() == GenAIContext("conv-1", {"k": "v"})


# -- the context manager --------------------------------------------------------------


def test_context_manager_sets_and_yields_the_context() -> None:
    with genai_context(conversation_id="ctx-conv", properties={"user.id": "bob"}) as context:
        assert (context.conversation_id, context.properties) == ("ctx-conv", {"user.id": "bob"})
        assert get_genai_context().conversation_id == "ctx-conv"
    assert get_genai_context() == GenAIContext()


def test_context_manager_restores_the_previous_context() -> None:
    set_genai_context(conversation_id="outer")
    with genai_context(conversation_id="inner"):
        assert get_genai_context().conversation_id == "inner"
    assert get_genai_context().conversation_id == "outer"


def test_context_manager_restores_on_error() -> None:
    with pytest.raises(RuntimeError), genai_context(conversation_id="c", properties={"k": "v"}):
        raise RuntimeError("boom")
    assert get_genai_context() == GenAIContext()


def test_nested_context_managers() -> None:
    with genai_context(conversation_id="outer", properties={"level": "1"}):
        assert get_genai_context() == GenAIContext("outer", {"level": "1"})
        with genai_context(conversation_id="inner", properties={"level": "2"}):
            assert get_genai_context() == GenAIContext("inner", {"level": "2"})
        assert get_genai_context() == GenAIContext("outer", {"level": "1"})


def test_nested_contexts_inherit_what_they_do_not_give() -> None:
    """A layer over the session: inner scopes inherit the conversation and
    override properties per key (Splunk's replaces the whole context)."""
    with (
        genai_context(conversation_id="outer", properties={"level": "1", "tier": "gold"}),
        genai_context(properties={"level": "2", "tier": None}),
    ):
        assert get_genai_context() == GenAIContext("outer", {"level": "2"})


def test_the_root_path_serves_the_same_function() -> None:
    assert root_genai_context is genai_context


def test_contexts_do_not_leak_between_tasks() -> None:
    async def conversation(name: str) -> tuple[str | None, dict[str, Any]]:
        with genai_context(conversation_id=name, properties={"who": name}):
            await asyncio.sleep(0.01)
            context = get_genai_context()
            return context.conversation_id, context.properties

    async def main() -> list[tuple[str | None, dict[str, Any]]]:
        return list(await asyncio.gather(*(conversation(f"conv-{i}") for i in range(5))))

    assert asyncio.run(main()) == [(f"conv-{i}", {"who": f"conv-{i}"}) for i in range(5)]


# -- a layer over the session ---------------------------------------------------------


def test_the_conversation_id_is_the_session_id_both_ways() -> None:
    with genai_context(conversation_id="conv-1", properties={"tier": "gold"}):
        session = get_session_context()
        assert (session.session_id, dict(session.properties)) == ("conv-1", {"tier": "gold"})
    with session_context(session_id="sess-9", properties={"plan": "pro"}):
        assert get_genai_context() == GenAIContext("sess-9", {"plan": "pro"})


def test_set_and_clear_keep_the_user_and_tenant() -> None:
    token = set_session_context(session_id="s", user_id="alice", customer_id="acme")
    try:
        set_genai_context(conversation_id="conv-1", properties={"k": "v"})
        session = get_session_context()
        assert (session.session_id, session.user_id, session.customer_id) == (
            "conv-1",
            "alice",
            "acme",
        )
        clear_genai_context()
        session = get_session_context()
        assert (session.session_id, session.user_id, dict(session.properties)) == (
            None,
            "alice",
            {},
        )
    finally:
        from otel_genai_session.session import clear_session_context

        clear_session_context(token)


def test_every_span_gets_the_session_and_its_properties(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Through SessionSpanProcessor, the context reaches spans no handler made."""
    with genai_context(conversation_id="conv-1", properties={"tier": "gold"}):
        tracer_provider.get_tracer("http.client").start_span("GET").end()
    assert finished(exporter)["GET"] == {
        "session.id": "conv-1",
        f"{PROPERTY_PREFIX}tier": "gold",
    }


def test_properties_are_bounded_like_the_sessions(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t value"
    with (
        caplog.at_level(logging.WARNING, logger="otel_genai_session"),
        genai_context(properties={"bad key!": secret, "ok": "yes", "ctl": "a\nb"}),
    ):
        assert get_genai_context().properties == {"ok": "yes"}
    assert "genai_context()" in caplog.text
    assert secret not in caplog.text and "bad key" not in caplog.text


# -- applying the context to invocations (Splunk's _apply_genai_context) --------------


def test_apply_from_the_context() -> None:
    set_genai_context(
        conversation_id="ctx-conv", properties={"user.id": "alice", "customer.id": "acme"}
    )
    invocation = LLMInvocation(request_model="model-1")
    _apply_genai_context(invocation)
    assert invocation.conversation_id == "ctx-conv"
    assert invocation.association_properties == {"user.id": "alice", "customer.id": "acme"}


def test_an_explicit_conversation_id_has_priority() -> None:
    set_genai_context(conversation_id="ctx-conv")
    invocation = LLMInvocation(request_model="model-1", conversation_id="explicit-conv")
    _apply_genai_context(invocation)
    assert invocation.conversation_id == "explicit-conv"


def test_invocation_properties_override_the_contexts_per_key() -> None:
    set_genai_context(properties={"user.id": "ctx-user", "tenant": "ctx-tenant"})
    invocation = LLMInvocation(request_model="model-1")
    invocation.association_properties = {"user.id": "inv-user", "extra": "val"}
    _apply_genai_context(invocation)
    assert invocation.association_properties == {
        "user.id": "inv-user",
        "tenant": "ctx-tenant",
        "extra": "val",
    }


def test_no_context_no_change() -> None:
    invocation = LLMInvocation(request_model="model-1")
    _apply_genai_context(invocation)
    assert invocation.conversation_id is None
    assert invocation.association_properties == {}


@pytest.mark.parametrize("value", ["false", "FALSE", "0", "no", "off"])
def test_the_switch_off_applies_nothing(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION, value)
    set_genai_context(conversation_id="ctx-conv", properties={"user.id": "alice"})
    invocation = LLMInvocation(request_model="model-1")
    _apply_genai_context(invocation)
    assert invocation.conversation_id is None
    assert invocation.association_properties == {}


def test_the_switch_off_keeps_explicit_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION, "false")
    set_genai_context(conversation_id="ctx-conv")
    invocation = LLMInvocation(request_model="model-1", conversation_id="explicit-conv")
    invocation.association_properties = {"key": "val"}
    _apply_genai_context(invocation)
    assert invocation.conversation_id == "explicit-conv"
    assert invocation.association_properties == {"key": "val"}


@pytest.mark.parametrize("value", [None, "", "true", "1", "yes", "on", " True "])
def test_the_switch_on_by_default_or_explicitly(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is not None:
        monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION, value)
    set_genai_context(conversation_id="ctx-conv")
    invocation = LLMInvocation(request_model="model-1")
    _apply_genai_context(invocation)
    assert invocation.conversation_id == "ctx-conv"


def test_a_bad_switch_value_is_off_and_named_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION, "maybe-later")
    set_genai_context(conversation_id="ctx-conv")
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        for _ in range(3):
            invocation = LLMInvocation(request_model="model-1")
            _apply_genai_context(invocation)
            assert invocation.conversation_id is None
    lines = [
        r
        for r in caplog.records
        if OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION in r.getMessage()
    ]
    assert len(lines) == 1


# -- in the handler -------------------------------------------------------------------

INVOCATIONS = {
    "llm": lambda: LLMInvocation(request_model="gpt-4"),
    "embedding": lambda: EmbeddingInvocation(
        request_model="text-embedding-3-small", input_texts=["hello"]
    ),
    "agent": lambda: AgentInvocation(name="test-agent"),
    "workflow": lambda: Workflow(name="test-workflow"),
    "tool_call": lambda: ToolCall(name="search"),
    "retrieval": lambda: RetrievalInvocation(query="test query"),
    "step": lambda: Step(name="test-step"),
}


@pytest.mark.parametrize("kind", INVOCATIONS)
def test_each_start_applies_the_context(
    kind: str, handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    set_genai_context(conversation_id=f"{kind}-conv", properties={"customer.id": "tenant-1"})
    invocation: GenAIInvocation = INVOCATIONS[kind]()
    getattr(handler, f"start_{kind}")(invocation)
    assert invocation.conversation_id == f"{kind}-conv"
    assert invocation.association_properties == {"customer.id": "tenant-1"}
    getattr(handler, f"stop_{kind}")(invocation)
    (span,) = exporter.get_finished_spans()
    assert attrs(span)[CONVERSATION] == attrs(span)["session.id"] == f"{kind}-conv"
    assert attrs(span)[association("customer.id")] == "tenant-1"


def test_the_process_wide_handler_applies_it_too() -> None:
    handler = get_telemetry_handler()
    with genai_context(conversation_id="conv-123", properties={"user.id": "alice"}):
        invocation = LLMInvocation(request_model="gpt-4")
        handler.start_llm(invocation)
        assert invocation.conversation_id == "conv-123"
        assert invocation.association_properties == {"user.id": "alice"}
        handler.stop_llm(invocation)


def test_the_handler_spans_inside_a_context_manager(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    with (
        genai_context(conversation_id="conv-123", properties={"user.id": "alice"}),
        handler.agent(AgentInvocation(name="planner")),
    ):
        with handler.llm(LLMInvocation(request_model="gpt-4")) as invocation:
            invocation.association_properties["step"] = "draft"
        with (
            genai_context(properties={"user.id": "bob"}),
            handler.tool_call(ToolCall(name="search")),
        ):
            pass
    spans = finished(exporter)
    assert spans["invoke_agent planner"][CONVERSATION] == "conv-123"
    assert spans["chat gpt-4"][association("user.id")] == "alice"
    assert spans["chat gpt-4"][association("step")] == "draft"  # set while it ran
    # A nested scope: the conversation inherited, the property overridden.
    assert spans["execute_tool search"][CONVERSATION] == "conv-123"
    assert spans["execute_tool search"][association("user.id")] == "bob"


def test_a_session_without_this_api_gets_no_conversation_id(
    handler: TelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    """The GenAI conventions' default: only a conversation the application named
    (here, or with the conversation_id_from_session opt-in) is exported."""
    with session_context(session_id="sess-1", properties={"tier": "gold"}):
        invocation = LLMInvocation(request_model="m")
        with handler.llm(invocation):
            pass
    assert invocation.conversation_id is None
    assert invocation.association_properties == {}
    span = finished(exporter)["chat m"]
    assert CONVERSATION not in span
    assert span["session.id"] == "sess-1"
    assert not any(key.startswith(GEN_AI_ASSOCIATION_PROPERTIES_PREFIX) for key in span)


def test_the_switch_off_leaves_handler_spans_without_the_context(
    handler: TelemetryHandler, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_CONTEXT_PROPAGATION, "false")
    with (
        genai_context(conversation_id="conv-1", properties={"tier": "gold"}),
        handler.llm(LLMInvocation(request_model="m")),
    ):
        pass
    span = finished(exporter)["chat m"]
    assert CONVERSATION not in span and association("tier") not in span
    assert span["session.id"] == "conv-1"  # the session itself is still exported


# -- semantic-convention attributes -----------------------------------------------------


def test_conversation_id_attribute() -> None:
    invocation = LLMInvocation(request_model="gpt-4", conversation_id="conv-123")
    assert invocation.semantic_convention_attributes()[CONVERSATION] == "conv-123"


def test_association_properties_prefix() -> None:
    invocation = LLMInvocation(request_model="gpt-4")
    invocation.association_properties = {"user.id": "alice", "customer.id": "acme", "n": None}  # type: ignore[dict-item]
    attributes = invocation.semantic_convention_attributes()
    assert attributes[association("user.id")] == "alice"
    assert attributes[association("customer.id")] == "acme"
    assert association("n") not in attributes  # None is no attribute value


def test_none_values_excluded() -> None:
    attributes = LLMInvocation(request_model="gpt-4").semantic_convention_attributes()
    assert CONVERSATION not in attributes
    assert [k for k in attributes if k.startswith(f"{GEN_AI_ASSOCIATION_PROPERTIES_PREFIX}.")] == []


@pytest.mark.parametrize("kind", INVOCATIONS)
def test_every_invocation_type_has_both_fields(kind: str) -> None:
    invocation: GenAIInvocation = INVOCATIONS[kind]()
    invocation.conversation_id = "test-conv"
    invocation.association_properties = {"user.id": "test-user"}
    attributes = invocation.semantic_convention_attributes()
    assert attributes[CONVERSATION] == "test-conv"
    assert attributes[association("user.id")] == "test-user"
