#!/usr/bin/env python3
"""LangChain section: what the callback handler adds to a chain call.

    python3 tasks.py bench --sections langchain   # rows in the suite's table
    python benchmarks/langchain_bench.py          # alone; --quick, --smoke

The same prompt | model | parser chain (a scripted fake chat model, so the
chain itself is cheap and the overhead shows as much as it can) is called with
no callback, with a handler that does nothing (LangChain's own cost of having
a callback), then with ours per call, inside a session, and through
``instrument_langchain()``, on an SDK TracerProvider with the session
processor and a BatchSpanProcessor to an exporter that drops everything;
``ainvoke`` the same. Timed interleaved with the baseline (see _harness.py).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from _harness import Block, Result, Settings, measure, run_alone, timed, within

__all__ = ["run"]

SECTION = "langchain"


def _chain() -> Any:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    class ScriptedChat(GenericFakeChatModel):
        model: str = "scripted-gpt"

    answer = AIMessage(
        content="hello there",
        usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
        response_metadata={"finish_reason": "stop"},
    )
    model = ScriptedChat(messages=itertools.cycle([answer]))
    prompt = ChatPromptTemplate.from_messages([("human", "{input}")])
    return prompt | model | StrOutputParser()


def _provider() -> Any:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from otel_genai_session.processor import SessionSpanProcessor

    class DropExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
    return provider


def run(settings: Settings, notes: list[str]) -> list[Result]:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.runnables import RunnableConfig

    from otel_genai_session import session_context
    from otel_genai_session.langchain import (
        OpenTelemetryCallbackHandler,
        instrument_langchain,
        uninstrument_langchain,
    )

    class DoNothing(BaseCallbackHandler):
        """A handler with no methods: what LangChain's callback machinery costs by itself."""

        run_inline = True

    provider = _provider()
    chain = _chain()
    inputs = {"input": "hi"}
    ours = RunnableConfig(callbacks=[OpenTelemetryCallbackHandler(provider)])
    do_nothing = RunnableConfig(callbacks=[DoNothing()])
    loop = asyncio.new_event_loop()

    @contextmanager
    def in_session() -> Iterator[None]:
        with session_context(session_id="conv-1", user_id="alice"):
            yield

    @contextmanager
    def instrumented() -> Iterator[None]:
        instrument_langchain(provider)
        try:
            yield
        finally:
            uninstrument_langchain()

    def invoke(config: Any = None) -> Callable[[], object]:
        return lambda: chain.invoke(inputs, config)

    def ainvoke(config: Any = None) -> Callable[[], object]:
        return lambda: loop.run_until_complete(chain.ainvoke(inputs, config))

    sync: list[tuple[str, Block]] = [
        ("no callback", timed(invoke())),
        ("do-nothing handler", timed(invoke(do_nothing))),
        ("ours per call", timed(invoke(ours))),
        ("ours per call, in a session", within(in_session, timed(invoke(ours)))),
        ("instrument_langchain()", within(instrumented, timed(invoke()))),
    ]
    asynchronous: list[tuple[str, Block]] = [
        ("no callback", timed(ainvoke())),
        ("ours per call", timed(ainvoke(ours))),
    ]
    try:
        return [
            *measure(SECTION, "chain", "invoke", sync, settings),
            *measure(SECTION, "chain", "ainvoke", asynchronous, settings),
        ]
    finally:
        provider.shutdown()
        loop.close()
        notes.append(f"{SECTION}: prompt | scripted model | parser, spans dropped by the exporter")


if __name__ == "__main__":
    sys.exit(run_alone(run, sys.argv[1:], (__doc__ or "").splitlines()[0]))
