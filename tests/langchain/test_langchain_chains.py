"""LangChain runs become GenAI spans: the tree, the attributes, the ids, in every call style."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_support import (
    MODEL,
    NO_IDS,
    add,
    chat_model,
    divide,
    ids_of,
    one,
    parent_of,
    simple_chain,
    traces,
    tree,
)
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_genai_session import session_context
from otel_genai_session.langchain import HIDDEN_TAG, OpenTelemetryCallbackHandler

CHAIN_TREE = [
    (0, "invoke_workflow RunnableSequence"),
    (1, "step ChatPromptTemplate"),
    (1, f"chat {MODEL}"),
    (1, "step StrOutputParser"),
]
IDS = ("conv-1", "alice", "acme")


def config_for(handler: OpenTelemetryCallbackHandler, **extra: Any) -> RunnableConfig:
    return RunnableConfig(callbacks=[handler], **extra)  # type: ignore[typeddict-item]


# -- the tree and the ids, in every call style -------------------------------------------

Runner = Callable[[Runnable[Any, str], RunnableConfig], Awaitable[list[str]]]


async def _invoke(chain: Runnable[Any, str], config: RunnableConfig) -> list[str]:
    return [chain.invoke({"input": "hi"}, config)]


async def _ainvoke(chain: Runnable[Any, str], config: RunnableConfig) -> list[str]:
    return [await chain.ainvoke({"input": "hi"}, config)]


async def _stream(chain: Runnable[Any, str], config: RunnableConfig) -> list[str]:
    return ["".join(chain.stream({"input": "hi"}, config))]


async def _astream(chain: Runnable[Any, str], config: RunnableConfig) -> list[str]:
    return ["".join([chunk async for chunk in chain.astream({"input": "hi"}, config)])]


async def _batch(chain: Runnable[Any, str], config: RunnableConfig) -> list[str]:
    return chain.batch([{"input": "a"}, {"input": "b"}, {"input": "c"}], config)


async def _abatch(chain: Runnable[Any, str], config: RunnableConfig) -> list[str]:
    return await chain.abatch([{"input": "a"}, {"input": "b"}, {"input": "c"}], config)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("run", "streamed"),
    [
        pytest.param(_invoke, False, id="invoke"),
        pytest.param(_ainvoke, False, id="ainvoke"),
        pytest.param(_stream, True, id="stream"),
        pytest.param(_astream, True, id="astream"),
        pytest.param(_batch, False, id="batch"),
        pytest.param(_abatch, False, id="abatch"),
    ],
)
async def test_each_call_style_gives_one_tree_per_input_with_the_session(
    run: Runner,
    streamed: bool,
    otel_handler: OpenTelemetryCallbackHandler,
    exporter: InMemorySpanExporter,
) -> None:
    with session_context(*IDS):
        results = await run(simple_chain(), config_for(otel_handler))

    assert results and all(result == "hello there" for result in results)
    spans = exporter.get_finished_spans()
    grouped = traces(spans)
    assert len(grouped) == len(results)
    for trace_spans in grouped.values():
        assert tree(trace_spans) == CHAIN_TREE
        root = one(trace_spans, CHAIN_TREE[0][1])
        assert root.parent is None
        for span in trace_spans:
            assert ids_of(span) == IDS, span.name
            if span is not root:
                assert parent_of(span, trace_spans) is root, span.name
        llm = one(trace_spans, f"chat {MODEL}")
        assert (llm.attributes or {}).get("gen_ai.request.stream") == (True if streamed else None)
    assert len(otel_handler._runs) == 0, "every run ended and was forgotten"


def test_model_span_has_the_request_and_response_fields(
    otel_handler: OpenTelemetryCallbackHandler,
    exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    simple_chain().invoke({"input": "hi"}, config_for(otel_handler))

    llm = one(exporter.get_finished_spans(), f"chat {MODEL}")
    assert llm.kind is SpanKind.CLIENT
    assert dict(llm.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.model": f"{MODEL}-0613",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 3,
    }
    data = metric_reader.get_metrics_data()
    assert data is not None
    points = {
        (metric.name, point.attributes.get("gen_ai.token.type") if point.attributes else None): (
            point.sum  # type: ignore[union-attr]
        )
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    }
    assert points[("gen_ai.client.token.usage", "input")] == 7
    assert points[("gen_ai.client.token.usage", "output")] == 3
    assert ("gen_ai.client.operation.duration", None) in points


def test_text_completion_model(
    otel_handler: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    with session_context(session_id="s-llm"):
        assert FakeListLLM(responses=["ok"]).invoke("hi", config_for(otel_handler)) == "ok"

    (span,) = exporter.get_finished_spans()
    assert span.name == "text_completion FakeListLLM"
    assert (span.attributes or {})["gen_ai.operation.name"] == "text_completion"
    assert ids_of(span) == ("s-llm", None, None)


def test_tool_run_is_an_execute_tool_span(
    otel_handler: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    call = {"name": "add", "args": {"a": 2, "b": 3}, "id": "call-9", "type": "tool_call"}
    with session_context(*IDS):
        message = add.invoke(call, config_for(otel_handler))

    assert message.content == "5"
    (span,) = exporter.get_finished_spans()
    assert span.name == "execute_tool add"
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "add",
        "gen_ai.tool.call.id": "call-9",
        "gen_ai.tool.description": "Add two integers.",
        "gen_ai.tool.type": "function",
        "session.id": "conv-1",
        "user.id": "alice",
        "customer.id": "acme",
    }


class _Docs(BaseRetriever):
    """A retriever over a fixed list: enough to make LangChain report a retriever run."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=f"about {query}")]


def test_retriever_run_is_a_retrieval_span_inside_the_chain(
    otel_handler: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{context}: {input}")])
    rag = (
        {"context": RunnableLambda(lambda x: x["input"]) | _Docs(), "input": lambda x: x["input"]}
        | prompt
        | chat_model()
    )
    with session_context(*IDS):
        rag.invoke({"input": "otel"}, config_for(otel_handler))

    spans = exporter.get_finished_spans()
    retrieval = one(spans, "retrieval")
    assert retrieval.kind is SpanKind.CLIENT
    assert (retrieval.attributes or {})["gen_ai.operation.name"] == "retrieval"
    assert "otel" not in str(dict(retrieval.attributes or {})), "the query is user content"
    assert ids_of(retrieval) == IDS
    ancestor = parent_of(retrieval, spans)
    while ancestor is not None and parent_of(ancestor, spans) is not None:
        ancestor = parent_of(ancestor, spans)
    assert ancestor is not None and ancestor.name == "invoke_workflow RunnableSequence"


# -- errors ------------------------------------------------------------------------------


class _FailingChat(BaseChatModel):
    """A chat model whose provider is down."""

    @property
    def _llm_type(self) -> str:
        return "failing"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        raise ConnectionError("provider down")


def _boom(_: Any) -> str:
    raise LookupError("no such thing")


@pytest.mark.parametrize(
    ("runnable", "inputs", "error", "failed"),
    [
        pytest.param(
            ChatPromptTemplate.from_messages([("human", "{input}")]) | _FailingChat(),
            {"input": "hi"},
            ConnectionError,
            ["chat _FailingChat", "invoke_workflow RunnableSequence"],
            id="model",
        ),
        pytest.param(
            divide, {"a": 1, "b": 0}, ZeroDivisionError, ["execute_tool divide"], id="tool"
        ),
        pytest.param(
            chat_model() | RunnableLambda(_boom),
            "hi",
            LookupError,
            ["step _boom", "invoke_workflow RunnableSequence"],
            id="chain-step",
        ),
    ],
)
def test_errors_end_the_spans_as_failed(
    runnable: Runnable[Any, Any],
    inputs: Any,
    error: type[BaseException],
    failed: list[str],
    otel_handler: OpenTelemetryCallbackHandler,
    exporter: InMemorySpanExporter,
) -> None:
    with session_context(*IDS), pytest.raises(error):
        runnable.invoke(inputs, config_for(otel_handler))

    spans = exporter.get_finished_spans()
    for span in spans:
        attributes = span.attributes or {}
        assert ids_of(span) == IDS
        if span.name in failed:
            assert attributes["error.type"] == error.__qualname__, span.name
            assert span.status.status_code is StatusCode.ERROR
            assert any(event.name == "exception" for event in span.events)
        else:
            assert "error.type" not in attributes, span.name
    assert sorted(span.name for span in spans if span.status.status_code is StatusCode.ERROR) == (
        sorted(failed)
    )
    assert len(otel_handler._runs) == 0


# -- the session is the one in effect when each run starts -------------------------------


def test_a_stream_keeps_the_session_it_started_in(
    otel_handler: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    stream = simple_chain().stream({"input": "hi"}, config_for(otel_handler))
    with session_context(session_id="started-here"):
        first = next(stream)
    with session_context(session_id="consumed-here"):
        rest = list(stream)

    assert first + "".join(rest) == "hello there"
    spans = exporter.get_finished_spans()
    assert tree(spans) == CHAIN_TREE
    assert {ids_of(span) for span in spans} == {("started-here", None, None)}


def test_a_run_started_in_a_bare_thread_inherits_its_parents_ids_and_span(
    otel_handler: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    """A plain ``threading.Thread`` starts with an empty context: no session, no current
    span. The model run started there still gets its parent run's ids and span."""
    model = chat_model()

    def in_a_thread(text: str, config: RunnableConfig) -> str:
        answers: list[str] = []
        worker = threading.Thread(
            target=lambda: answers.append(str(model.invoke(text, config).content))
        )
        worker.start()
        worker.join(timeout=10)
        return answers[0]

    with session_context(*IDS):
        RunnableLambda(in_a_thread).invoke("hi", config_for(otel_handler))

    spans = exporter.get_finished_spans()
    assert tree(spans) == [(0, "invoke_workflow in_a_thread"), (1, f"chat {MODEL}")]
    assert {ids_of(span) for span in spans} == {IDS}


def test_callbacks_never_change_the_ambient_context(
    otel_handler: OpenTelemetryCallbackHandler,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """Spans are started with explicit parents, so code inside a run (and after an
    abandoned stream) sees the context its caller had."""
    seen: list[trace.Span] = []

    def look(text: str) -> str:
        seen.append(trace.get_current_span())
        return text

    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("request") as request:
        (chat_model() | RunnableLambda(look)).invoke("hi", config_for(otel_handler))
        abandoned = simple_chain().stream({"input": "hi"}, config_for(otel_handler))
        next(abandoned)
        assert trace.get_current_span() is request
        abandoned.close()
        assert trace.get_current_span() is request
    assert seen == [request]
    spans = exporter.get_finished_spans()
    request_span = one(spans, "request")
    roots = [span for span in spans if parent_of(span, spans) is request_span]
    assert sorted(span.name for span in roots) == ["invoke_workflow RunnableSequence"] * 2


def test_hidden_runs_get_no_span_and_their_siblings_keep_their_parent(
    otel_handler: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    hidden = RunnableLambda(lambda text: text).with_config(tags=[HIDDEN_TAG])
    (hidden | chat_model()).invoke("hi", config_for(otel_handler))

    assert tree(exporter.get_finished_spans()) == [
        (0, "invoke_workflow RunnableSequence"),
        (1, f"chat {MODEL}"),
    ]


def test_a_hidden_run_hides_its_whole_subtree(
    otel_handler: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    model = chat_model()

    def call(text: str, config: RunnableConfig) -> str:
        return str(model.invoke(text, config).content)

    RunnableLambda(call).with_config(tags=[HIDDEN_TAG]).invoke("hi", config_for(otel_handler))

    assert exporter.get_finished_spans() == ()  # the model inherits the hidden tag


def test_a_handler_added_below_the_top_parents_on_the_ambient_span(
    otel_handler: OpenTelemetryCallbackHandler,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """The outer chain has no handler: its run id is unknown to ours, so the model
    span hangs off the ambient span instead of nowhere."""
    model = chat_model()

    def inner(text: str) -> str:
        return str(model.invoke(text, config_for(otel_handler)).content)

    with tracer_provider.get_tracer("test").start_as_current_span("request"):
        RunnableLambda(inner).invoke("hi")

    spans = exporter.get_finished_spans()
    llm = one(spans, f"chat {MODEL}")
    assert parent_of(llm, spans) is one(spans, "request")
    assert ids_of(llm) == NO_IDS


@pytest.mark.parametrize(
    ("agent_names", "expected"),
    [
        pytest.param(None, [(0, "invoke_workflow RunnableSequence"), (1, "step planner")],
                     id="default"),
        pytest.param(["planner"],
                     [(0, "invoke_workflow RunnableSequence"), (1, "invoke_agent planner")],
                     id="named-agent"),
    ],
)  # fmt: skip
def test_agent_names_turn_chain_runs_into_agent_invocations(
    agent_names: list[str] | None,
    expected: list[tuple[int, str]],
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    handler = OpenTelemetryCallbackHandler(tracer_provider, agent_names=agent_names)
    planner = RunnableLambda(lambda text: text).with_config(run_name="planner")
    (planner | RunnableLambda(lambda text: text)).invoke("hi", config_for(handler))

    shape = tree(exporter.get_finished_spans())
    assert shape[:2] == expected


def test_a_top_level_agent_is_an_agent_not_a_workflow(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    handler = OpenTelemetryCallbackHandler(tracer_provider, agent_names=["AgentExecutor"])
    agent = RunnableLambda(lambda text: text).with_config(run_name="AgentExecutor")
    agent.invoke("hi", config_for(handler))

    (span,) = exporter.get_finished_spans()
    assert span.name == "invoke_agent AgentExecutor"
    assert (span.attributes or {})["gen_ai.agent.name"] == "AgentExecutor"


class _OffloadedHandler(OpenTelemetryCallbackHandler):
    """LangChain's default for sync handlers in async runs: each callback goes to a
    worker thread (in a copy of the context). Records where the callbacks ran."""

    run_inline = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.threads: set[str] = set()

    def on_chain_start(self, *args: Any, **kwargs: Any) -> None:
        self.threads.add(threading.current_thread().name)
        super().on_chain_start(*args, **kwargs)


@pytest.mark.anyio
async def test_callbacks_offloaded_to_worker_threads_keep_parents_and_sessions(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    handler = _OffloadedHandler(tracer_provider)
    chain = simple_chain()

    async def one_session(n: int) -> str:
        with session_context(session_id=f"s-{n}", user_id=f"u-{n}"):
            return await chain.ainvoke({"input": "hi"}, config_for(handler))

    results = await asyncio.gather(*(one_session(n) for n in range(5)))

    assert results == ["hello there"] * 5
    assert threading.current_thread().name not in handler.threads, "callbacks were offloaded"
    grouped = traces(exporter.get_finished_spans())
    assert len(grouped) == 5
    seen = set()
    for spans in grouped.values():
        assert tree(spans) == CHAIN_TREE
        (ids,) = {ids_of(span) for span in spans}
        seen.add(ids)
    assert seen == {(f"s-{n}", f"u-{n}", None) for n in range(5)}
