"""LangChain with session ids on every span: one line to instrument, nothing else to change.

A prompt | model | tools chain runs twice on a scripted model (no network, no
API key): once inside ``session_context`` (ids from the application), once
with ids only in LangChain's own ``config["metadata"]`` (as LangGraph's
``thread_id`` would be). The script prints each trace as a tree, with the ids
every span carries.

    pip install 'otel-genai-session[langchain]'
    python examples/langchain_chain.py
"""

from __future__ import annotations

import itertools
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import tool
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.langchain import instrument_langchain, uninstrument_langchain
from otel_genai_session.processor import SessionSpanProcessor

ID_KEYS = ("session.id", "user.id", "customer.id")


class ScriptedChatModel(GenericFakeChatModel):
    """Answers from a script, and reports a model name like a real integration."""

    model: str = "scripted-gpt"


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


def run_tool_calls(message: AIMessage, config: RunnableConfig) -> str:
    """Execute the tool calls the model asked for; passing ``config`` keeps them in the run."""
    results = [get_weather.invoke(call, config).content for call in message.tool_calls]
    return "; ".join(str(result) for result in results)


def build_chain() -> Any:
    asks_for_weather = AIMessage(
        content="",
        tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call-1"}],
        usage_metadata={"input_tokens": 12, "output_tokens": 5, "total_tokens": 17},
        response_metadata={"finish_reason": "tool_calls"},
    )
    model = ScriptedChatModel(messages=itertools.cycle([asks_for_weather]))
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    return prompt | model | RunnableLambda(run_tool_calls)


def print_tree(spans: tuple[ReadableSpan, ...]) -> None:
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    known = {span.context.span_id for span in spans}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        parent = span.parent.span_id if span.parent and span.parent.span_id in known else None
        by_parent.setdefault(parent, []).append(span)

    def show(parent: int | None, depth: int) -> None:
        for span in by_parent.get(parent, []):
            attributes = span.attributes or {}
            ids = " ".join(f"{key}={attributes[key]}" for key in ID_KEYS if key in attributes)
            label = "  " * depth + span.name
            print(f"  {label:<42} span={span.context.span_id:016x}  {ids}")
            show(span.context.span_id, depth + 1)

    show(None, 0)


def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    instrument_langchain(tracer_provider=provider)  # the one line; no provider = the global one
    try:
        chain = build_chain()

        with session_context(session_id="conv-42", user_id="alice", customer_id="acme"):
            answer = chain.invoke({"question": "Weather in Paris?"})
        print(f"1. inside session_context -> {answer!r}")
        print_tree(exporter.get_finished_spans())
        exporter.clear()

        metadata = {"thread_id": "thread-7", "user_id": "bob"}
        answer = chain.invoke({"question": "And now?"}, config={"metadata": metadata})
        print(f"2. ids from config['metadata'] only -> {answer!r}")
        print_tree(exporter.get_finished_spans())
    finally:
        uninstrument_langchain()


if __name__ == "__main__":
    main()
