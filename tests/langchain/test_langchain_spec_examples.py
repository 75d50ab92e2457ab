"""The session-context spec's LangChain examples, run as written on real LangChain objects.

``workflow`` is a compiled LangGraph graph and ``async_chain`` a
prompt | model | parser chain, both on fake models; instrument_langchain()
(the ``instrumented`` fixture) is the only line added to the application.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest
from langchain_core.messages import AIMessage
from langchain_support import MODEL, add, chat_model, ids_of, reply, simple_chain, traces, tree
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session.langchain import OpenTelemetryCallbackHandler


@pytest.fixture
def workflow() -> Any:
    pytest.importorskip(
        "langgraph",
        reason="LangGraph is not installed (the 'test' extra: pip install -e '.[test]')",
    )
    from langgraph.graph import END, START, StateGraph
    from langgraph.prebuilt import ToolNode
    from typing_extensions import TypedDict

    class State(TypedDict, total=False):
        input: str
        messages: list[Any]
        output: str

    model = chat_model(
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}]),
        reply("3"),
    )
    tools = ToolNode([add])

    def plan(state: State) -> State:
        return {"messages": [model.invoke(state["input"])]}

    def act(state: State) -> State:
        result = tools.invoke({"messages": state["messages"]})
        return {"messages": [*state["messages"], *result["messages"]]}

    def answer(state: State) -> State:
        return {"output": str(model.invoke(state["messages"]).content)}

    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_node("act", act)
    graph.add_node("answer", answer)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "act")
    graph.add_edge("act", "answer")
    graph.add_edge("answer", END)
    return graph.compile()


@pytest.fixture
def async_chain() -> Any:
    return simple_chain()


def test_langgraph_workflow(
    instrumented: OpenTelemetryCallbackHandler, workflow: Any, exporter: InMemorySpanExporter
) -> None:
    from uuid import uuid4

    from otel_genai_session import session_context

    def run_workflow(user_input: str, user_id: str):  # type: ignore[no-untyped-def]
        session_id = str(uuid4())

        with session_context(session_id=session_id, user_id=user_id):
            # All agent, LLM, and tool spans will include session attributes
            result = workflow.invoke({"input": user_input})

        return result, session_id

    result, session_id = run_workflow("what is 1 + 2?", "user-1")
    other_result, other_session = run_workflow("again", "user-2")

    assert result["output"] == other_result["output"] == "3"
    assert UUID(session_id) and UUID(other_session) and session_id != other_session
    grouped = traces(exporter.get_finished_spans())
    assert len(grouped) == 2
    expected_tree = [
        (0, "invoke_workflow LangGraph"),
        (1, "step plan"),
        (2, f"chat {MODEL}"),
        (1, "step act"),
        (2, "execute_tool add"),
        (1, "step answer"),
        (2, f"chat {MODEL}"),
    ]
    sessions = {}
    for spans in grouped.values():
        assert tree(spans) == expected_tree
        (ids,) = {ids_of(span) for span in spans}
        sessions[ids[0]] = ids[1]
    assert sessions == {session_id: "user-1", other_session: "user-2"}


@pytest.mark.anyio
async def test_async_support(
    instrumented: OpenTelemetryCallbackHandler, async_chain: Any, exporter: InMemorySpanExporter
) -> None:
    from otel_genai_session import session_context

    async def process_request(session_id: str):  # type: ignore[no-untyped-def]
        with session_context(session_id=session_id):
            # Works correctly in async context
            result = await async_chain.ainvoke({"input": "Hello"})
        return result

    # Multiple concurrent sessions are properly isolated
    results = await asyncio.gather(
        process_request("session-1"),
        process_request("session-2"),
    )

    assert results == ["hello there", "hello there"]
    grouped = traces(exporter.get_finished_spans())
    assert len(grouped) == 2
    sessions = set()
    for spans in grouped.values():
        assert len(spans) == 4
        (ids,) = {ids_of(span) for span in spans}
        sessions.add(ids)
    assert sessions == {("session-1", None, None), ("session-2", None, None)}
