"""Span processor and handler sections: what a span costs with our code on it.

Processor: ``tracer.start_span("op").end()`` on an SDK TracerProvider with,
as its only processor: nothing (bare); an empty processor (what being
registered costs: the SDK's on_start/on_end calls); the floor (one
``span.set_attributes`` of the 3 attributes in ``on_start``); ours inside a 3-id session; ours with
no session; OpenTelemetry's BaggageSpanProcessor with 3 baggage entries.

Handler: ``start_llm`` + ``stop_llm`` of a new ``LLMInvocation`` (no-op meter,
and with an SDK meter for scale) against ``tracer.start_span(...).end()`` of
the same name, kind and final attributes, both inside a 3-id session.

What each fast path through a private name saves is counted by callgrind in
``fastpaths_callgrind.py`` (docs/performance.md, "Fast paths")::

    python benchmarks/spans_bench.py [--quick]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from _harness import Block, Result, Settings, measure, timed, within

__all__ = ["ATTRIBUTES", "run_handler", "run_processor"]

IDS = {"session_id": "conv-7f3a9c2e", "user_id": "user-1842", "customer_id": "acme-corp"}
ATTRIBUTES = {"session.id": "conv-7f3a9c2e", "user.id": "user-1842", "customer.id": "acme-corp"}
_ENV = (
    "OTEL_INSTRUMENTATION_GENAI_SESSION_ID",
    "OTEL_INSTRUMENTATION_GENAI_USER_ID",
    "OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID",
)


@contextmanager
def _in_session() -> Iterator[None]:
    from otel_genai_session import session_context

    with session_context(**IDS):
        yield


@contextmanager
def _in_baggage() -> Iterator[None]:
    from opentelemetry import baggage, context

    ctx = None
    for key, value in ATTRIBUTES.items():
        ctx = baggage.set_baggage(key, value, ctx)
    token = context.attach(ctx)  # type: ignore[arg-type]
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def _no_env_ids() -> Iterator[None]:
    """The "no session" figures assume no env-var ids either."""
    saved = {name: os.environ.pop(name) for name in _ENV if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _span_job(processor: Any) -> Callable[[], None]:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    if processor is not None:
        provider.add_span_processor(processor)
    start_span = provider.get_tracer("bench").start_span
    return lambda: start_span("op").end()


def _floor_processor() -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class FloorProcessor(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            span.set_attributes(ATTRIBUTES)

        def on_end(self, span: Any) -> None:
            pass

    return FloorProcessor()


def _empty_processor() -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class EmptyProcessor(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            pass

        def on_end(self, span: Any) -> None:
            pass

    return EmptyProcessor()


def run_processor(settings: Settings, notes: list[str]) -> list[Result]:
    from otel_genai_session.processor import SessionSpanProcessor

    ours = SessionSpanProcessor()
    variants: list[tuple[str, Block]] = [
        ("bare sdk span", within(_in_session, timed(_span_job(None)))),
        ("empty processor", within(_in_session, timed(_span_job(_empty_processor())))),
        ("floor (set_attributes x3)", within(nullcontext, timed(_span_job(_floor_processor())))),
        ("ours, session of 3 ids", within(_in_session, timed(_span_job(ours)))),
        ("ours, no session", within(nullcontext, timed(_span_job(ours)))),
    ]
    try:
        from opentelemetry.processor.baggage import ALLOW_ALL_BAGGAGE_KEYS, BaggageSpanProcessor
    except ImportError:
        notes.append(
            "processor: BaggageSpanProcessor skipped (opentelemetry-processor-baggage "
            "not installed; it belongs in the bench extra)"
        )
    else:
        job = _span_job(BaggageSpanProcessor(ALLOW_ALL_BAGGAGE_KEYS))
        variants.append(("BaggageSpanProcessor, 3 entries", within(_in_baggage, timed(job))))
    with _no_env_ids():
        return measure("processor", "sdk span", "start_span().end()", variants, settings)


def run_handler(settings: Settings, notes: list[str]) -> list[Result]:
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_genai_session.handler import TelemetryHandler
    from otel_genai_session.types import LLMInvocation

    def invocation() -> Any:
        return LLMInvocation(
            request_model="gpt-4o", provider="openai", input_tokens=120, output_tokens=48
        )

    # The plain span gets exactly the name, kind and attributes the handler produces.
    exporter = InMemorySpanExporter()
    probe = TracerProvider()
    probe.add_span_processor(SimpleSpanProcessor(exporter))
    with _in_session():
        probe_handler = TelemetryHandler(probe, NoOpMeterProvider())
        probe_handler.stop_llm(probe_handler.start_llm(invocation()))
    (span,) = exporter.get_finished_spans()
    name, kind, attributes = span.name, span.kind, dict(span.attributes or {})

    provider = TracerProvider()
    start_span = provider.get_tracer("bench").start_span
    plain = TelemetryHandler(provider, NoOpMeterProvider())
    metered = TelemetryHandler(provider, MeterProvider([InMemoryMetricReader()]))

    def via(handler: Any) -> Callable[[], None]:
        return lambda: handler.stop_llm(handler.start_llm(invocation()))

    variants: list[tuple[str, Block]] = [
        (
            "start_span(same attrs).end()",
            within(
                _in_session, timed(lambda: start_span(name, kind=kind, attributes=attributes).end())
            ),
        ),
        ("start_llm+stop_llm", within(_in_session, timed(via(plain)))),
        ("start_llm+stop_llm, sdk meter", within(_in_session, timed(via(metered)))),
    ]
    return measure("handler", "llm span", f"{len(attributes)} attributes", variants, settings)


def _main(argv: list[str]) -> int:
    import _harness
    from _table import print_table

    profile = "quick" if "--quick" in argv else "smoke" if "--smoke" in argv else "full"
    settings = _harness.PROFILES[profile]
    notes: list[str] = []
    results = run_processor(settings, notes) + run_handler(settings, notes)
    print_table(results)
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
