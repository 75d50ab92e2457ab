"""A LangGraph-style workflow from the handler types alone (no LangChain needed).

A tiny graph engine runs nodes one after the other, a conditional edge
picking the next; the spans nest as a LangGraph run's would::

    invoke_workflow support-graph        Workflow
    └─ step classify                     Step (one per node)
       └─ chat fake-gpt-mini             LLMInvocation
    └─ step research
       └─ invoke_agent researcher        AgentInvocation
          ├─ chat fake-gpt-mini          LLMInvocation (asks for a tool)
          ├─ execute_tool search_docs    ToolCall
          └─ chat fake-gpt-mini
    └─ step answer ...

As in LangGraph, a run belongs to a thread (``config["configurable"]
["thread_id"]``): it is the natural session id, so one ``session_context``
around ``invoke`` puts it, with the user and tenant, on every span of the run.

    python examples/langgraph_style_workflow.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.types import AgentInvocation, LLMInvocation, Step, ToolCall, Workflow

MODEL = "fake-gpt-mini"
END = "__end__"
ID_KEYS = ("session.id", "user.id", "customer.id")

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SessionSpanProcessor())
provider.add_span_processor(SimpleSpanProcessor(exporter))
handler = TelemetryHandler(tracer_provider=provider)

State = dict[str, str]
Node = Callable[[State], State]


def model(prompt: str, output: str, finish: str = "stop") -> str:
    """A model call through the handler; the reply is scripted."""
    call = LLMInvocation(request_model=MODEL, provider="fake-ai", input_tokens=len(prompt.split()))
    with handler.llm(call):
        call.output_tokens, call.finish_reasons = len(output.split()), [finish]
    return output


# -- the nodes ----------------------------------------------------------------------


def classify(state: State) -> State:
    kind = "question" if state["input"].rstrip().endswith("?") else "chitchat"
    return {**state, "kind": model(f"Classify: {state['input']}", kind)}


def research(state: State) -> State:
    with handler.agent(AgentInvocation(name="researcher", request_model=MODEL)):
        model(state["input"], '{"tool": "search_docs"}', finish="tool_calls")
        with handler.tool_call(ToolCall(name="search_docs", call_id="call-1")) as tool:
            tool.result = "Sessions are stored in a ContextVar."
        notes = model(f"{state['input']}\n{tool.result}", "Notes: stored in a ContextVar.")
    return {**state, "notes": notes}


def answer(state: State) -> State:
    with handler.agent(AgentInvocation(name="writer", request_model=MODEL)):
        scripted = "They live in a ContextVar." if "notes" in state else "You are welcome!"
        reply = model(state["input"] + state.get("notes", ""), scripted)
    return {**state, "output": reply}


@dataclass
class Graph:
    """Nodes and edges, LangGraph's ``StateGraph`` reduced to its shape."""

    name: str
    entry: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[str, Callable[[State], str]] = field(default_factory=dict)

    def invoke(self, state: State) -> State:
        with handler.workflow(Workflow(name=self.name)):
            node = self.entry
            while node != END:
                with handler.step(Step(name=node)):
                    state = self.nodes[node](state)
                node = self.edges[node](state)
        return state


graph = Graph(
    name="support-graph",
    entry="classify",
    nodes={"classify": classify, "research": research, "answer": answer},
    edges={
        "classify": lambda s: "research" if s["kind"] == "question" else "answer",
        "research": lambda s: "answer",
        "answer": lambda s: END,
    },
)


def run(user_input: str, config: dict[str, dict[str, str]]) -> State:
    """What ``graph.invoke(input, config)`` looks like with sessions."""
    ids = config["configurable"]
    with session_context(
        session_id=ids["thread_id"], user_id=ids["user_id"], customer_id=ids["tenant"]
    ):
        return graph.invoke({"input": user_input})


def print_tree(spans: list[ReadableSpan]) -> None:
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)

    def walk(span: ReadableSpan, depth: int) -> None:
        attributes = span.attributes or {}
        ids = "".join(f"{attributes.get(k, '-')!s:<12}" for k in ID_KEYS).rstrip()
        print(f"  {'   ' * depth}{span.name:<{40 - 3 * depth}} {ids}")
        for child in children.get(span.context.span_id, []):
            walk(child, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)


def main() -> int:
    runs = [
        (
            "How are sessions stored?",
            {"thread_id": "thread-1", "user_id": "alice", "tenant": "acme"},
        ),
        ("Thanks, great work!", {"thread_id": "thread-2", "user_id": "carol", "tenant": "globex"}),
    ]
    failures = 0
    for user_input, ids in runs:
        exporter.clear()
        state = run(user_input, {"configurable": ids})
        spans = list(exporter.get_finished_spans())
        print(f"{user_input!r} -> {state['output']!r}  ({len(spans)} spans)")
        print(f"  {'span':<40} " + "".join(f"{k:<12}" for k in ID_KEYS).rstrip())
        print_tree(spans)
        expected = (ids["thread_id"], ids["user_id"], ids["tenant"])
        failures += sum(
            tuple((s.attributes or {}).get(k) for k in ID_KEYS) != expected for s in spans
        )
        print()
    if failures:
        print(f"{failures} spans with the wrong ids")
        return 1
    print("Every span of each run carries its thread's session, user and tenant.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
