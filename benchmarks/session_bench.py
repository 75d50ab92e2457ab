#!/usr/bin/env python3
"""Micro-benchmarks of the core: session store, SessionSpanProcessor, TelemetryHandler.

Usage::

    python benchmarks/core_bench.py              # ~15 s
    python benchmarks/core_bench.py --quick      # fewer, shorter repetitions

Figures only, no assertions. Every variant of a group runs one timeit block
per repetition, in a rotating order (A B C, B C A, ...), so slow drifts of a
noisy machine hit all of them alike; a variant's figure is the median over
repetitions. A processor's added cost is the median of the per-repetition
difference to the bare span, not the difference of two medians.

Blocks are timed in CPU time of the running thread (``time.thread_time``):
on a shared machine wall-clock figures swing by 2-3x with the neighbours'
load, CPU time by about 1%. ``--wall`` times with ``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import timeit
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.session import (
    clear_session_context,
    get_session_context,
    session_context,
    set_session_context,
)
from otel_genai_session.types import LLMInvocation

IDS = {"session_id": "conv-123", "user_id": "user-456", "customer_id": "tenant-789"}
ATTRS3 = {"session.id": "conv-123", "user.id": "user-456", "customer.id": "tenant-789"}

Variant = tuple[str, str, Callable[[], AbstractContextManager[Any]]]
"""(label, timeit statement, setup context manager run around the block)."""


@contextmanager
def in_session() -> Iterator[None]:
    token = set_session_context(**IDS)
    try:
        yield
    finally:
        clear_session_context(token)


def no_setup() -> AbstractContextManager[None]:
    return nullcontext()


def run_group(
    variants: list[Variant],
    namespace: dict[str, Any],
    number: int,
    repeat: int,
    clock: Callable[[], float],
) -> dict[str, list[float]]:
    """ns/op of each variant, one sample per repetition, in rotating order."""
    timers = {
        label: timeit.Timer(stmt, timer=clock, globals=namespace) for label, stmt, _ in variants
    }
    for label, _, setup in variants:  # warm-up: imports, caches, first allocations
        with setup():
            timers[label].timeit(max(number // 10, 1))
    samples: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    for rep in range(repeat):
        shift = rep % len(variants)
        for label, _, setup in variants[shift:] + variants[:shift]:
            with setup():
                seconds = timers[label].timeit(number)
            samples[label].append(seconds / number * 1e9)
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values)


def paired(a: list[float], b: list[float]) -> float:
    """Median of the per-repetition differences a - b."""
    return statistics.median(x - y for x, y in zip(a, b, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="operations per block")
    parser.add_argument("--repeat", type=int, default=9, help="repetitions per variant")
    parser.add_argument("--quick", action="store_true", help="--number 3000 --repeat 5")
    parser.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    args = parser.parse_args()
    number, repeat = (3_000, 5) if args.quick else (args.number, args.repeat)
    clock = time.perf_counter if args.wall else time.thread_time

    bare_provider = TracerProvider()
    session_provider = TracerProvider()
    session_provider.add_span_processor(SessionSpanProcessor())
    live_span = bare_provider.get_tracer("bench").start_span("live")

    handler = TelemetryHandler(
        session_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])
    )
    with session_context(**IDS):
        sample = LLMInvocation(request_model="gpt-4o", provider="openai")
        llm_attributes = handler._span_attributes(sample)

    namespace: dict[str, Any] = {
        "session_context": session_context,
        "get_session_context": get_session_context,
        "bare": bare_provider.get_tracer("bench"),
        "tagged": session_provider.get_tracer("bench"),
        "live_span": live_span,
        "ATTRS3": ATTRS3,
        "handler": handler,
        "LLMInvocation": LLMInvocation,
        "CLIENT": SpanKind.CLIENT,
        "LLM_ATTRIBUTES": llm_attributes,
    }

    session_group: list[Variant] = [
        (
            "with session_context(3 ids): enter + exit",
            "with session_context('conv-123', 'user-456', 'tenant-789'): pass",
            no_setup,
        ),
        ("get_session_context(), no session", "get_session_context()", no_setup),
        ("get_session_context(), in a session", "get_session_context()", in_session),
    ]
    span_group: list[Variant] = [
        ("span start+end, no processor", "bare.start_span('op').end()", in_session),
        ("span start+end, SessionSpanProcessor, no session", "tagged.start_span('op').end()",
         no_setup),
        ("span start+end, SessionSpanProcessor, 3 ids", "tagged.start_span('op').end()",
         in_session),
        ("span.set_attributes(3 attributes)", "live_span.set_attributes(ATTRS3)", no_setup),
    ]  # fmt: skip
    handler_group: list[Variant] = [
        (
            "tracer.start_span(same attributes).end()",
            "tagged.start_span('chat gpt-4o', kind=CLIENT, attributes=LLM_ATTRIBUTES).end()",
            in_session,
        ),
        (
            "handler.start_llm + stop_llm (new LLMInvocation)",
            "handler.stop_llm(handler.start_llm("
            "LLMInvocation(request_model='gpt-4o', provider='openai')))",
            in_session,
        ),
    ]

    results: dict[str, list[float]] = {}
    for group in (session_group, span_group, handler_group):
        results.update(run_group(group, namespace, number, repeat, clock))
    live_span.end()

    print(
        f"otel-genai-session core benchmarks: Python {platform.python_version()}, "
        f"median of {repeat} interleaved repetitions x {number} operations, "
        f"{'wall-clock' if args.wall else 'thread CPU'} time\n"
    )
    width = max(len(label) for label in results) + 2
    print(f"{'operation':<{width}}{'ns/op':>10}")
    print("-" * (width + 10))
    for label, values in results.items():
        print(f"{label:<{width}}{median(values):>10.0f}")

    bare = results["span start+end, no processor"]
    added_3 = paired(results["span start+end, SessionSpanProcessor, 3 ids"], bare)
    added_0 = paired(results["span start+end, SessionSpanProcessor, no session"], bare)
    set_attributes = median(results["span.set_attributes(3 attributes)"])
    plain = results["tracer.start_span(same attributes).end()"]
    via_handler = results["handler.start_llm + stop_llm (new LLMInvocation)"]
    print("\nderived")
    print("-" * (width + 10))
    print(
        f"{'SessionSpanProcessor added cost, 3 ids':<{width}}{added_3:>10.0f}"
        f"   = {added_3 / set_attributes:.2f} x one set_attributes(3)"
    )
    print(f"{'SessionSpanProcessor added cost, no session':<{width}}{added_0:>10.0f}")
    print(
        f"{'handler over plain span (start_llm+stop_llm)':<{width}}"
        f"{paired(via_handler, plain):>10.0f}"
        f"   = {median(via_handler) / median(plain):.2f} x the plain span"
    )


if __name__ == "__main__":
    main()
