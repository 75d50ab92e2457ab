#!/usr/bin/env python3
"""Cross-process section: what carrying the session beyond one process costs,
each feature against the same work without it.

    python3 tasks.py bench --sections cross-process   # rows in the suite's table
    python benchmarks/cross_process_bench.py          # alone; --quick, --smoke

One group per feature of docs/beyond-one-process.md, timed interleaved with its
baseline (see _harness.py): the ASGI request with ``propagate_baggage``, each
outgoing request's inject, a Celery task (publish, and the run through the
worker's signals), a queued job re-entering its session, an MCP tool
re-entering the request's session from the scope.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from _harness import (
    Block,
    Result,
    Settings,
    in_session,
    measure,
    now,
    run_alone,
    timed,
    within,
)

__all__ = ["run"]

SECTION = "cross-process"
HEADERS = [(b"x-session-id", b"conv-1"), (b"x-user-id", b"ada"), (b"x-tenant-id", b"acme")]


def _asgi_request(propagate: bool) -> Callable[[], None]:
    """One request (3 header ids) through the middleware to an app that does nothing."""
    from otel_genai_session.middleware import GenAISessionMiddleware

    async def app(scope: object, receive: object, send: object) -> None:
        return None

    middleware = GenAISessionMiddleware(app, propagate_baggage=propagate)

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    async def send(message: object) -> None:
        return None

    def call() -> None:
        scope = {"type": "http", "method": "GET", "path": "/", "headers": HEADERS}
        coroutine = middleware(scope, receive, send)
        with contextlib.suppress(StopIteration):  # the app never awaits: one step
            coroutine.send(None)

    return call


def _request_group(settings: Settings) -> list[Result]:
    variants: list[tuple[str, Block]] = [
        ("off", timed(_asgi_request(False))),
        ("propagate_baggage", timed(_asgi_request(True))),
    ]
    return measure(SECTION, "asgi request", "3 header ids", variants, settings)


def _inject_group(settings: Settings) -> list[Result]:
    """What an instrumented HTTP client does for each request it sends."""
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from otel_genai_session.propagation import SessionBaggagePropagator

    w3c = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    ours = CompositePropagator(
        [TraceContextTextMapPropagator(), W3CBaggagePropagator(), SessionBaggagePropagator()]
    )
    variants: list[tuple[str, Block]] = [
        ("tracecontext + baggage", within(in_session, timed(lambda: w3c.inject({})))),
        ("+ SessionBaggagePropagator", within(in_session, timed(lambda: ours.inject({})))),
    ]
    return measure(SECTION, "outgoing request", "inject, 3-id session", variants, settings)


def _celery_groups(settings: Settings) -> list[Result]:
    from celery import Celery

    from otel_genai_session.celery import instrument_celery, uninstrument_celery

    app = Celery("bench", broker="memory://", backend="cache+memory://")
    app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True)

    @app.task(name="bench.noop")
    def noop() -> None:
        return None

    def instrumented(job: Callable[[], object]) -> Block:
        def block(n: int) -> float:
            instrument_celery()
            try:
                started = now()
                for _ in range(n):
                    job()
                return now() - started
            finally:
                uninstrument_celery()

        return block

    results: list[Result] = []
    with app.connection_for_write() as connection, in_session():
        publish = lambda: noop.apply_async(connection=connection)  # noqa: E731
        run_task = lambda: noop.apply()  # noqa: E731 (prerun/postrun, as in a worker)
        for scenario, job in (("publish (memory broker)", publish), ("task run", run_task)):
            variants: list[tuple[str, Block]] = [
                ("off", timed(job)),
                ("instrument_celery()", instrumented(job)),
            ]
            results += measure(SECTION, "celery", scenario, variants, settings)
    return results


def _resume_group(settings: Settings) -> list[Result]:
    """A job making one model span (SDK, our processor), re-entering a captured session."""
    from opentelemetry.sdk.trace import TracerProvider

    from otel_genai_session import get_session_context, session_context
    from otel_genai_session.middleware import SESSION_KEY, session_from_scope
    from otel_genai_session.processor import SessionSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    tracer = provider.get_tracer("bench")

    def plain_job() -> None:
        tracer.start_span("chat model").end()

    with in_session():
        captured = get_session_context()
    scope: dict[str, Any] = {"type": "http", SESSION_KEY: captured}

    def queued_job() -> None:  # the job was queued with the session captured
        with session_context.resume(captured):
            plain_job()

    def mcp_tool() -> None:  # a tool run outside the request's task
        with session_context.resume(session_from_scope(scope)):
            plain_job()

    variants: list[tuple[str, Block]] = [
        ("no session", within(nullcontext, timed(plain_job))),
        ("queued job: resume(session)", within(nullcontext, timed(queued_job))),
        ("MCP tool: resume(session_from_scope)", within(nullcontext, timed(mcp_tool))),
    ]
    return measure(SECTION, "job", "one span", variants, settings)


def run(settings: Settings, notes: list[str]) -> list[Result]:
    notes.append(
        f"{SECTION}: each feature of docs/beyond-one-process.md against the same work without it"
    )
    return [
        *_request_group(settings),
        *_inject_group(settings),
        *_celery_groups(settings),
        *_resume_group(settings),
    ]


if __name__ == "__main__":
    sys.exit(run_alone(run, sys.argv[1:], (__doc__ or "").splitlines()[0]))
