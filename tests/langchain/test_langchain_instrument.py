"""instrument_langchain(): one line traces every run; idempotent; uninstrument restores."""

from __future__ import annotations

import threading

import pytest
from langchain_core.runnables import RunnableConfig
from langchain_core.tracers.context import _configure_hooks
from langchain_support import ids_of, simple_chain, traces, tree
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.langchain import (
    OpenTelemetryCallbackHandler,
    installed_handler,
    instrument_langchain,
    uninstrument_langchain,
)
from otel_genai_session.langchain._instrument import ALREADY_INSTRUMENTED, _GlobalSlot

SPANS_PER_CHAIN = 4


def test_instrumented_chains_need_no_callbacks_argument(
    instrumented: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    with session_context(session_id="conv-i", user_id="alice"):
        assert simple_chain().invoke({"input": "hi"}) == "hello there"

    spans = exporter.get_finished_spans()
    assert len(spans) == SPANS_PER_CHAIN
    assert {ids_of(span) for span in spans} == {("conv-i", "alice", None)}
    assert installed_handler() is instrumented


def test_instrument_is_idempotent(
    instrumented: OpenTelemetryCallbackHandler,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
    caplog: pytest.LogCaptureFixture,
    fresh_warnings: None,
) -> None:
    assert instrument_langchain() is instrumented
    assert instrument_langchain(tracer_provider) is instrumented  # arguments ignored, said once
    assert instrument_langchain(tracer_provider) is instrumented
    simple_chain().invoke({"input": "hi"})

    assert len(exporter.get_finished_spans()) == SPANS_PER_CHAIN, "no duplicate spans"
    assert [record.getMessage() for record in caplog.records] == [ALREADY_INSTRUMENTED]


def test_uninstrument_restores_no_spans_after(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    instrument_langchain(tracer_provider)
    simple_chain().invoke({"input": "hi"})
    uninstrument_langchain()
    uninstrument_langchain()  # idempotent too
    simple_chain().invoke({"input": "hi"})
    with session_context(session_id="after"):
        simple_chain().invoke({"input": "hi"})

    assert len(exporter.get_finished_spans()) == SPANS_PER_CHAIN
    assert installed_handler() is None


def test_cycles_register_one_hook_only(tracer_provider: TracerProvider) -> None:
    for _ in range(3):
        instrument_langchain(tracer_provider)
        uninstrument_langchain()
    assert sum(isinstance(hook[0], _GlobalSlot) for hook in _configure_hooks) == 1


def test_runs_in_flight_when_uninstrumenting_still_end(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    instrument_langchain(tracer_provider)
    try:
        stream = simple_chain().stream({"input": "hi"})
        first = next(stream)
    finally:
        uninstrument_langchain()
    assert first + "".join(stream) == "hello there"
    assert len(exporter.get_finished_spans()) == SPANS_PER_CHAIN


def test_a_per_call_handler_replaces_the_global_one(
    instrumented: OpenTelemetryCallbackHandler, exporter: InMemorySpanExporter
) -> None:
    own_exporter = InMemorySpanExporter()
    own_provider = TracerProvider()
    own_provider.add_span_processor(SimpleSpanProcessor(own_exporter))
    own = OpenTelemetryCallbackHandler(own_provider)

    simple_chain().invoke({"input": "hi"}, RunnableConfig(callbacks=[own]))

    assert exporter.get_finished_spans() == ()
    assert len(own_exporter.get_finished_spans()) == SPANS_PER_CHAIN


def test_global_for_threads_that_started_before_instrumenting(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A server's worker threads exist before start-up code instruments: they are covered."""
    instrumented = threading.Event()
    done: list[str] = []

    def worker() -> None:
        if instrumented.wait(timeout=10):
            with session_context(session_id="from-worker"):
                done.append(simple_chain().invoke({"input": "hi"}))

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        instrument_langchain(tracer_provider)
        instrumented.set()
        thread.join(timeout=10)
    finally:
        uninstrument_langchain()
    assert done == ["hello there"]
    (spans,) = traces(exporter.get_finished_spans()).values()
    assert len(tree(spans)) == SPANS_PER_CHAIN
    assert {ids_of(span) for span in spans} == {("from-worker", None, None)}
