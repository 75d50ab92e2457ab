"""Through a real server: a FastAPI endpoint calling a chain or a graph, ids from headers.

OpenTelemetry's ASGI middleware makes the server span, GenAISessionMiddleware
puts the header ids in effect, instrument_langchain() traces the runs. Every
GenAI span must carry its own request's ids and hang off that request's
server span, also with concurrent requests and sync endpoints run in threads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.messages import HumanMessage
from langchain_support import (
    MODEL,
    UvicornThread,
    add,
    chat_model,
    ids_of,
    one,
    parent_of,
    reply,
    simple_chain,
    tool_call_reply,
    traces,
    tree,
)
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_genai_session.langchain import OpenTelemetryCallbackHandler
from otel_genai_session.middleware import GenAISessionMiddleware

CHAIN_NAMES = [
    "invoke_workflow RunnableSequence",
    "step ChatPromptTemplate",
    f"chat {MODEL}",
    "step StrOutputParser",
]
REQUESTS = 6


def make_app(tracer_provider: TracerProvider) -> Any:
    app = FastAPI()
    chain = simple_chain()

    @app.post("/chat")
    def chat(body: dict[str, str]) -> dict[str, str]:  # sync: FastAPI runs it in a thread
        return {"answer": chain.invoke({"input": body["message"]})}

    @app.post("/achat")
    async def achat(body: dict[str, str]) -> dict[str, str]:
        return {"answer": await chain.ainvoke({"input": body["message"]})}

    @app.post("/graph")
    def graph(body: dict[str, str]) -> dict[str, str]:
        from langgraph_support import agent_graph

        workflow = agent_graph(chat_model(tool_call_reply(), reply("3")), [add])
        state = workflow.invoke({"messages": [HumanMessage(body["message"])]})
        return {"answer": str(state["messages"][-1].content)}

    app.add_middleware(GenAISessionMiddleware)
    return OpenTelemetryMiddleware(app, tracer_provider=tracer_provider)


@pytest.fixture
def server(
    instrumented: OpenTelemetryCallbackHandler, tracer_provider: TracerProvider
) -> Iterator[UvicornThread]:
    with UvicornThread(make_app(tracer_provider)) as running:
        yield running


def headers_for(n: int) -> dict[str, str]:
    return {"X-Session-ID": f"conv-{n}", "X-User-ID": f"user-{n}", "X-Tenant-ID": f"tenant-{n}"}


async def post_all(url: str, path: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await asyncio.gather(
            *(
                client.post(path, json={"message": f"m-{n}"}, headers=headers_for(n))
                for n in range(REQUESTS)
            )
        )


def finished_spans(exporter: InMemorySpanExporter, requests: int) -> tuple[ReadableSpan, ...]:
    """The spans, once every request's server span ended: the ASGI instrumentation ends
    it after the response went out, so the client can be faster than the export."""
    deadline = time.monotonic() + 10
    while True:
        spans = exporter.get_finished_spans()
        if sum(span.kind is SpanKind.SERVER for span in spans) >= requests:
            return spans
        assert time.monotonic() < deadline, "server spans did not end within 10 s"
        time.sleep(0.005)


def check_trace(spans: list[ReadableSpan], genai_names: list[str]) -> None:
    """One request: its GenAI spans carry its ids and hang under its server span."""
    (server_span,) = [span for span in spans if span.kind is SpanKind.SERVER]
    session_id = (server_span.attributes or {})["session.id"]
    n = str(session_id).removeprefix("conv-")
    expected = (f"conv-{n}", f"user-{n}", f"tenant-{n}")
    assert ids_of(server_span) == expected
    genai = [span for span in spans if span.name in genai_names]
    assert sorted(span.name for span in genai) == sorted(genai_names)
    for span in genai:
        assert ids_of(span) == expected, span.name
        ancestor = parent_of(span, spans)
        assert ancestor is not None, f"{span.name} lost its parent"
        if span.name.startswith("invoke_workflow"):
            assert ancestor is server_span, "the top-level run is a child of the request"
        else:
            assert ancestor in genai, span.name


@pytest.mark.parametrize("path", ["/chat", "/achat"])
def test_concurrent_requests_each_get_their_own_ids_and_parent(
    server: UvicornThread, exporter: InMemorySpanExporter, path: str
) -> None:
    responses = asyncio.run(post_all(server.url, path))

    assert [response.status_code for response in responses] == [200] * REQUESTS
    assert {response.json()["answer"] for response in responses} == {"hello there"}
    grouped = traces(finished_spans(exporter, REQUESTS))
    assert len(grouped) == REQUESTS
    seen = set()
    for spans in grouped.values():
        check_trace(spans, CHAIN_NAMES)
        seen.add(ids_of(one(spans, CHAIN_NAMES[0])))
    assert len(seen) == REQUESTS


def test_a_graph_behind_an_endpoint(server: UvicornThread, exporter: InMemorySpanExporter) -> None:
    pytest.importorskip(
        "langgraph",
        reason="LangGraph is not installed (the 'test' extra: pip install -e '.[test]')",
    )
    responses = asyncio.run(post_all(server.url, "/graph"))

    assert [response.json() for response in responses] == [{"answer": "3"}] * REQUESTS
    grouped = traces(finished_spans(exporter, REQUESTS))
    assert len(grouped) == REQUESTS
    from langgraph_support import GRAPH_TREE

    names = [name for _, name in GRAPH_TREE]
    for spans in grouped.values():
        check_trace(spans, names)
        genai = [span for span in spans if span.name in names]
        assert tree(genai) == GRAPH_TREE


def test_a_request_without_ids_gets_spans_without_ids(
    server: UvicornThread, exporter: InMemorySpanExporter
) -> None:
    response = httpx.post(f"{server.url}/chat", json={"message": "hi"}, timeout=30)

    assert response.status_code == 200
    genai = [span for span in finished_spans(exporter, 1) if span.name in CHAIN_NAMES]
    assert len(genai) == len(CHAIN_NAMES)
    assert {ids_of(span) for span in genai} == {(None, None, None)}
