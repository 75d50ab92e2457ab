"""LangGraph helpers (import only after ``pytest.importorskip("langgraph")``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_support import MODEL, FakeChat
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode


def agent_graph(
    model: FakeChat, tools: Sequence[Any], *, asynchronous: bool = False, **compile_options: Any
) -> Any:
    """The classic two-node graph: an "agent" node calling the model, a "tools" node
    (LangGraph's ToolNode) running the tool calls it asks for, until it stops asking.
    ``asynchronous`` makes the agent node a coroutine (for ``ainvoke``)."""

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    async def agent_async(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "tools" if getattr(last, "tool_calls", None) else END

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent_async if asynchronous else agent)
    graph.add_node("tools", ToolNode(list(tools)))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", END])
    graph.add_edge("tools", "agent")
    return graph.compile(**compile_options)


GRAPH_TREE = [
    (0, "invoke_workflow LangGraph"),
    (1, "step agent"),
    (2, f"chat {MODEL}"),
    (2, "step route"),
    (1, "step tools"),
    (2, "execute_tool add"),
    (1, "step agent"),
    (2, f"chat {MODEL}"),
    (2, "step route"),
]
"""The span tree of :func:`agent_graph` for one tool call then an answer."""
