"""What the cross-service, logging and privacy features cost, each against "off".

Interleaved repetitions (A B A B ...), median of per-repetition figures, so a
noisy machine moves both sides alike. Prints ns per operation and the ratio.

    python benchmarks/issue7_costs.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import Callable

from opentelemetry.sdk.trace import TracerProvider

from otel_genai_session import session_context
from otel_genai_session.logs import SessionLogFilter
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.privacy import disable_user_id_hashing, enable_user_id_hashing
from otel_genai_session.processor import SessionSpanProcessor

HEADERS = [(b"x-session-id", b"conv-1"), (b"x-user-id", b"ada"), (b"x-tenant-id", b"acme")]


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
    cost, ratio = on_ns - off_ns, on_ns / off_ns
    print(f"{name:<44} {off_ns:>10.0f} {on_ns:>10.0f} {cost:>+10.0f} {ratio:>7.2f}x")


def asgi_request(propagate: bool) -> Callable[[], object]:
    async def app(scope: object, receive: object, send: object) -> None:
        return None

    middleware = GenAISessionMiddleware(app, propagate_baggage=propagate)
    loop = asyncio.new_event_loop()

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    async def send(message: object) -> None:
        return None

    def call() -> object:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": HEADERS,
            "query_string": b"",
        }
        coroutine = middleware(scope, receive, send)
        with contextlib.suppress(StopIteration):  # the app never awaits: one step
            coroutine.send(None)
        return loop

    return call


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"{'feature':<44} {'off ns':>10} {'on ns':>10} {'cost ns':>10} {'ratio':>8}")

    compare(
        "ASGI request, propagate_baggage",
        asgi_request(False),
        asgi_request(True),
        20000,
        args.repeat,
    )

    record = logging.LogRecord("bench", logging.INFO, __file__, 1, "message", None, None)
    log_filter = SessionLogFilter()
    formatter = logging.Formatter("%(levelname)s %(message)s")
    with session_context(session_id="conv-1", user_id="ada", customer_id="acme"):
        compare(
            "log record format, + SessionLogFilter",
            lambda: formatter.format(record),
            lambda: (log_filter.filter(record), formatter.format(record)),
            50000,
            args.repeat,
        )

    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    tracer = provider.get_tracer("bench")

    def make_span() -> None:
        with session_context(session_id="conv-1", user_id="ada@example.com"):
            tracer.start_span("s").end()

    def hashed_span() -> None:
        enable_user_id_hashing(b"k")
        try:
            make_span()
        finally:
            disable_user_id_hashing()

    compare(
        "session + span, user.id hashed (per session)", make_span, hashed_span, 5000, args.repeat
    )
    enable_user_id_hashing(b"k")
    with session_context(session_id="conv-1", user_id="ada@example.com"):
        hashed = lambda: tracer.start_span("s").end()  # noqa: E731
        compare("span in a hashed session (hash computed once)", hashed, hashed, 20000, args.repeat)
    disable_user_id_hashing()


if __name__ == "__main__":
    main()
