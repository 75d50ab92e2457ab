"""What the LangChain callback handler adds to a chain call.

The same prompt | model | parser chain (a scripted fake chat model, so the
chain itself is cheap and the overhead shows as much as it can) is called
with no callback, with a handler that does nothing (LangChain's own cost of
having a callback), then with ours per call and through
``instrument_langchain()``, on an SDK TracerProvider with the session
processor and a BatchSpanProcessor to an exporter that drops everything.
Cases are interleaved (rotated order) over repetitions, the median is kept.

    python benchmarks/langchain_overhead.py [--repeat 15] [--number 300]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import timeit
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_genai_session import session_context
from otel_genai_session.langchain import (
    OpenTelemetryCallbackHandler,
    instrument_langchain,
    uninstrument_langchain,
)
from otel_genai_session.processor import SessionSpanProcessor


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class DoNothing(BaseCallbackHandler):
    """A handler with no methods: what LangChain's callback machinery costs by itself."""

    run_inline = True


class ScriptedChat(GenericFakeChatModel):
    model: str = "scripted-gpt"


def build_chain() -> Any:
    answer = AIMessage(
        content="hello there",
        usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
        response_metadata={"finish_reason": "stop"},
    )
    model = ScriptedChat(messages=itertools.cycle([answer]))
    prompt = ChatPromptTemplate.from_messages([("human", "{input}")])
    return prompt | model | StrOutputParser()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--number", type=int, default=300)
    args = parser.parse_args(argv)

    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
    handler = OpenTelemetryCallbackHandler(provider)
    chain = build_chain()
    inputs = {"input": "hi"}
    per_call = RunnableConfig(callbacks=[handler])
    do_nothing = RunnableConfig(callbacks=[DoNothing()])
    loop = asyncio.new_event_loop()

    def plain() -> None:
        chain.invoke(inputs)

    def with_do_nothing() -> None:
        chain.invoke(inputs, do_nothing)

    def with_handler() -> None:
        chain.invoke(inputs, per_call)

    def with_handler_and_session() -> None:
        with session_context(session_id="conv-1", user_id="alice"):
            chain.invoke(inputs, per_call)

    def instrumented() -> None:
        instrument_langchain(provider)
        try:
            chain.invoke(inputs)
        finally:
            uninstrument_langchain()

    def plain_async() -> None:
        loop.run_until_complete(chain.ainvoke(inputs))

    def with_handler_async() -> None:
        loop.run_until_complete(chain.ainvoke(inputs, per_call))

    cases: dict[str, Callable[[], None]] = {
        "invoke, no callback": plain,
        "invoke, do-nothing handler": with_do_nothing,
        "invoke, handler per call": with_handler,
        "invoke, handler + session": with_handler_and_session,
        "invoke, instrument_langchain()": instrumented,
        "ainvoke, no callback": plain_async,
        "ainvoke, handler per call": with_handler_async,
    }
    baselines = {"invoke": "invoke, no callback", "ainvoke": "ainvoke, no callback"}
    for case in cases.values():  # warm up: imports, caches, the batch thread
        for _ in range(50):
            case()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for rep in range(args.repeat):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            seconds = timeit.Timer(cases[name]).timeit(args.number)
            samples[name].append(seconds / args.number * 1e6)
    provider.shutdown()
    loop.close()

    print(f"median of {args.repeat} interleaved repetitions x {args.number} calls")
    print(f"{'case':<34}{'us/call':>10}{'ratio':>8}{'added us':>10}")
    for name in names:
        median = statistics.median(samples[name])
        base = statistics.median(samples[baselines[name.split(",")[0]]])
        print(f"{name:<34}{median:>10.1f}{median / base:>8.2f}{median - base:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
