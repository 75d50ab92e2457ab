"""Span processor and handler sections: what a span costs with our code on it.

Processor: ``tracer.start_span("op").end()`` on an SDK TracerProvider with,
as its only processor: nothing (bare); an empty processor (what being
registered costs: the SDK's on_start/on_end calls); the floor (one
``span.set_attributes`` of the 3 attributes in ``on_start``); ours inside a 3-id session; ours with
no session; OpenTelemetry's BaggageSpanProcessor with 3 baggage entries.

Handler: ``start_llm`` + ``stop_llm`` of a new ``LLMInvocation`` (no-op meter,
and with an SDK meter for scale) against ``tracer.start_span(...).end()`` of
the same name, kind and final attributes, both inside a 3-id session.

Fast paths: each fast path through a private name (``_fastpaths.py``) against
its public fallback, inside the feature it serves, in one interleaved group:
the saving as a share of the feature's own cost on the fallback decides
whether the fast path stays (docs/performance.md, "Fast paths")::

    python benchmarks/spans_bench.py --fast-paths [--quick]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from _harness import Block, Result, Settings, measure, timed

__all__ = ["ATTRIBUTES", "run_fast_paths", "run_handler", "run_processor"]

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


def _within(setup: Callable[[], AbstractContextManager[Any]], block: Block) -> Block:
    def wrapped(n: int) -> float:
        with setup():
            return block(n)

    return wrapped


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
        ("bare sdk span", _within(_in_session, timed(_span_job(None)))),
        ("empty processor", _within(_in_session, timed(_span_job(_empty_processor())))),
        ("floor (set_attributes x3)", _within(nullcontext, timed(_span_job(_floor_processor())))),
        ("ours, session of 3 ids", _within(_in_session, timed(_span_job(ours)))),
        ("ours, no session", _within(nullcontext, timed(_span_job(ours)))),
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
        variants.append(("BaggageSpanProcessor, 3 entries", _within(_in_baggage, timed(job))))
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
            _within(
                _in_session, timed(lambda: start_span(name, kind=kind, attributes=attributes).end())
            ),
        ),
        ("start_llm+stop_llm", _within(_in_session, timed(via(plain)))),
        ("start_llm+stop_llm, sdk meter", _within(_in_session, timed(via(metered)))),
    ]
    return measure("handler", "llm span", f"{len(attributes)} attributes", variants, settings)


# -- fast paths through private names, against their public fallbacks ------------------


@contextmanager
def _patched(module: Any, name: str, value: Any) -> Iterator[None]:
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


@contextmanager
def _in_session_with_view() -> Iterator[None]:
    """The 3-id session, its attributes a ``MappingProxyType`` over a dict (our
    read-only dict subclass replaced both: a view, and a second, plain dict for
    the SDK)."""
    from types import MappingProxyType

    from otel_genai_session.session import SessionContext, session_context

    session = SessionContext(**IDS)
    object.__setattr__(session, "attributes", MappingProxyType(dict(session.attributes)))
    with session_context.resume(session):
        yield


def _judged(results: list[Result]) -> list[Result]:
    """Note on the fast row: its saving as a share of the feature's cost on the fallback."""
    _, fast, public = results
    assert fast.overhead_us is not None and public.overhead_us is not None
    saving = public.overhead_us - fast.overhead_us
    share = saving / public.overhead_us if public.overhead_us > 0 else 0.0
    verdict = "keep" if share > 0.10 else "drop"
    fast.note = f"saves {saving:.2f} us = {share:.0%} of {public.overhead_us:.2f}: {verdict}"
    return results


def _processor_groups(settings: Settings) -> list[Result]:
    from opentelemetry.sdk.trace import TracerProvider

    from otel_genai_session import _fastpaths, processor
    from otel_genai_session.session import SessionContext, session_context

    ours = processor.SessionSpanProcessor()
    job, bare = _span_job(ours), _span_job(None)
    fast_probe = _fastpaths.fast_unset_probe(_ENV)
    public_probe = _fastpaths.public_unset_probe(_ENV)

    def probe(value: Any) -> Callable[[], AbstractContextManager[None]]:
        return lambda: _patched(processor, "env_ids_unset", value)

    def room(value: Any) -> Callable[[], AbstractContextManager[None]]:
        return lambda: _patched(processor, "add_span_attributes", value)

    rows = _judged(
        measure(
            "fast paths",
            "env probe",
            "span, no session",
            [
                ("bare sdk span", timed(bare)),
                ("processor, fast probe", _within(probe(fast_probe), timed(job))),
                ("processor, public probe", _within(probe(public_probe), timed(job))),
            ],
            settings,
        )
    )

    from otel_genai_session import _env_fallback as session_module

    def reader(value: Any) -> Callable[[], AbstractContextManager[None]]:
        @contextmanager
        def one_env_id() -> Iterator[None]:
            os.environ[_ENV[0]] = "env-session"
            try:
                with _patched(session_module, "_read_env_ids", value(_ENV)):
                    yield
            finally:
                del os.environ[_ENV[0]]

        return one_env_id

    fast_read = reader(_fastpaths.fast_environment_reader)
    public_read = reader(_fastpaths.public_environment_reader)
    rows += _judged(
        measure(
            "fast paths",
            "env read",
            "span, no session, 1 of 3 env ids set",
            [
                ("bare sdk span", timed(bare)),
                ("processor, fast read", _within(fast_read, timed(job))),
                ("processor, public read", _within(public_read, timed(job))),
            ],
            settings,
        )
    )

    # A span started with attributes of its own, as instrumentations start theirs.
    own = {"http.request.method": "GET", "server.address": "api", "server.port": 443}
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(ours)
    start = tracer_provider.get_tracer("bench").start_span
    bare_start = TracerProvider().get_tracer("bench").start_span

    def with_own() -> None:
        start("op", attributes=own).end()

    def bare_with_own() -> None:
        bare_start("op", attributes=own).end()

    def in_session(patch: Callable[[], AbstractContextManager[None]]) -> Callable[[], Any]:
        @contextmanager
        def both() -> Iterator[None]:
            with patch(), session_context.resume(SessionContext(**IDS)):
                yield

        return both

    fast_room = in_session(room(_fastpaths.fast_add_span_attributes))
    public_room = in_session(room(_fastpaths.public_add_span_attributes))
    rows += _judged(
        measure(
            "fast paths",
            "attribute room",
            "span with 3 own attributes, 3-id session",
            [
                ("bare sdk span", _within(_in_session, timed(bare_with_own))),
                ("processor, fast room", _within(fast_room, timed(with_own))),
                ("processor, public room", _within(public_room, timed(with_own))),
            ],
            settings,
        )
    )
    rows += _judged(
        measure(
            "fast paths",
            "attribute dict",
            "span, 3-id session",
            [
                ("bare sdk span", _within(_in_session, timed(bare))),
                ("processor, read-only dict", _within(_in_session, timed(job))),
                ("processor, read-only view", _within(_in_session_with_view, timed(job))),
            ],
            settings,
        )
    )
    return rows


def _middleware_group(settings: Settings) -> list[Result]:
    import asyncio

    from _asgi_driver import asgi_block, get

    from otel_genai_session import _fastpaths
    from otel_genai_session.middleware import GenAISessionMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def built_with(lookup: Callable[[], Any]) -> Any:
        with _patched(_fastpaths, "current_span_lookup", lookup):
            return GenAISessionMiddleware(app)

    fast = _fastpaths.fast_current_span_lookup
    loop = asyncio.new_event_loop()
    try:
        request = get("/chat")
        return _judged(
            measure(
                "fast paths",
                "current span",
                "ASGI GET, 3 id headers",
                [
                    ("bare app", asgi_block(loop, app, request)),
                    ("middleware, fast lookup", asgi_block(loop, built_with(fast), request)),
                    (
                        "middleware, public lookup",
                        asgi_block(
                            loop, built_with(_fastpaths.public_current_span_lookup), request
                        ),
                    ),
                ],
                settings,
            )
        )
    finally:
        loop.close()


def run_fast_paths(settings: Settings, notes: list[str]) -> list[Result]:
    """Each fast path against its public fallback, in the feature it serves."""
    notes.append(
        "fast paths: 'saves' is the fallback's overhead minus the fast path's, as a share "
        "of the fallback's; a fast path stays above 10%"
    )
    with _no_env_ids():
        return _processor_groups(settings) + _middleware_group(settings)


def _main(argv: list[str]) -> int:
    import _harness
    from _table import print_table

    profile = "quick" if "--quick" in argv else "smoke" if "--smoke" in argv else "full"
    settings = _harness.PROFILES[profile]
    notes: list[str] = []
    results = run_fast_paths(settings, notes)
    if "--fast-paths" not in argv:
        results = run_processor(settings, notes) + run_handler(settings, notes) + results
    print_table(results)
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
