"""What carrying the session beyond one process costs, each against "off".

One row per feature of docs/beyond-one-process.md: the ASGI request with
``propagate_baggage``, each outgoing request's inject, a Celery task (publish,
and the run through the worker's signals), a queued job re-entering its
session, an MCP tool re-entering the request's session from the scope.
Interleaved repetitions (A B A B ...), median of the per-repetition figures,
so a noisy machine moves both sides alike; one run prints every ratio.

    python benchmarks/cross_process_bench.py [--repeat 15] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from typing import Any

from celery import Celery
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_genai_session import get_session_context, session_context
from otel_genai_session.celery import instrument_celery, uninstrument_celery
from otel_genai_session.middleware import SESSION_KEY, GenAISessionMiddleware, session_from_scope
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.propagation import SessionBaggagePropagator

HEADERS = [(b"x-session-id", b"conv-1"), (b"x-user-id", b"ada"), (b"x-tenant-id", b"acme")]
IDS = {"session_id": "conv-1", "user_id": "ada", "customer_id": "acme"}


def per_op_ns(func: Callable[[], object], number: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(number):
        func()
    return (time.perf_counter_ns() - start) / number


def compare(
    name: str, off: Callable[[], object], on: Callable[[], object], number: int, repeat: int
) -> None:
    offs, ons = [], []
    for _ in range(repeat):
        offs.append(per_op_ns(off, number))
        ons.append(per_op_ns(on, number))
    off_ns, on_ns = statistics.median(offs), statistics.median(ons)
    print(
        f"{name:<52} {off_ns:>10.0f} {on_ns:>10.0f} {on_ns - off_ns:>+9.0f} {on_ns / off_ns:>6.2f}x"
    )


def asgi_request(propagate: bool) -> Callable[[], object]:
    """One request through the middleware to an app that does nothing."""

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


def inject(propagator: CompositePropagator) -> Callable[[], object]:
    """What an instrumented HTTP client does for each request it sends."""
    return lambda: propagator.inject({})


def celery_app() -> tuple[Celery, Any]:
    app = Celery("bench", broker="memory://", backend="cache+memory://")
    app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True)

    @app.task(name="bench.noop")
    def noop() -> None:
        return None

    return app, noop


def job(tracer: Any) -> Callable[[], object]:
    """A job that makes one model span (SDK, our processor)."""
    return lambda: tracer.start_span("chat model").end()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--smoke", action="store_true", help="seconds; figures meaningless")
    args = parser.parse_args()
    repeat, scale = (1, 0.01) if args.smoke else (args.repeat, 1.0)

    def n(number: int) -> int:
        return max(int(number * scale), 1)

    print(f"{'per request / task / job':<52} {'off ns':>10} {'on ns':>10} {'cost':>9} {'ratio':>7}")
    compare(
        "ASGI request (3 header ids), propagate_baggage",
        asgi_request(False),
        asgi_request(True),
        n(20000),
        repeat,
    )
    w3c = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    ours = CompositePropagator(
        [TraceContextTextMapPropagator(), W3CBaggagePropagator(), SessionBaggagePropagator()]
    )
    with session_context(**IDS):
        compare(
            "outgoing request inject, + SessionBaggagePropagator",
            inject(w3c),
            inject(ours),
            n(20000),
            repeat,
        )

    app, noop = celery_app()
    with app.connection_for_write() as connection, session_context(**IDS):
        publish = lambda: noop.apply_async(connection=connection)  # noqa: E731
        run = lambda: noop.apply()  # noqa: E731 (prerun/postrun, as in a worker)
        for name, task in (("Celery publish (memory broker)", publish), ("Celery task run", run)):
            offs: list[float] = []
            ons: list[float] = []
            for _ in range(repeat):  # interleaved: instrumented, then not
                instrument_celery()
                ons.append(per_op_ns(task, n(2000)))
                uninstrument_celery()
                offs.append(per_op_ns(task, n(2000)))
            off_ns, on_ns = statistics.median(offs), statistics.median(ons)
            print(
                f"{name + ', instrument_celery()':<52} {off_ns:>10.0f} {on_ns:>10.0f} "
                f"{on_ns - off_ns:>+9.0f} {on_ns / off_ns:>6.2f}x"
            )

    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    tracer = provider.get_tracer("bench")
    plain_job = job(tracer)
    with session_context(**IDS):
        captured = get_session_context()

    def queued_job() -> None:  # the job was queued with the session captured
        with session_context.resume(captured):
            plain_job()

    scope = {"type": "http", SESSION_KEY: captured}

    def mcp_tool() -> None:  # a tool run outside the request's task
        with session_context.resume(session_from_scope(scope)):
            plain_job()

    compare(
        "queued job (one span), session_context.resume", plain_job, queued_job, n(20000), repeat
    )
    compare(
        "MCP tool (one span), resume(session_from_scope)", plain_job, mcp_tool, n(20000), repeat
    )


if __name__ == "__main__":
    main()
