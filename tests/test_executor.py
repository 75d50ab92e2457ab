"""Executor helpers: the caller's session and current span reach worker threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session.executor import (
    ContextThreadPoolExecutor,
    bind_context,
    run_in_executor,
)
from otel_genai_session.session import (
    SessionContext,
    get_session_context,
    session_context,
    set_session_context,
)

Ids = tuple[str | None, str | None, str | None]


def current_ids() -> Ids:
    session = get_session_context()
    return session.session_id, session.user_id, session.customer_id


def attrs(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def parent_name(spans: dict[str, ReadableSpan], name: str) -> str | None:
    parent = spans[name].parent
    if parent is None:
        return None
    return next(s.name for s in spans.values() if s.context.span_id == parent.span_id)


def test_plain_thread_pool_does_not_carry_the_session(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("t")

    def work() -> Ids:
        tracer.start_span("worker").end()
        return current_ids()

    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        session_context("s", "u", "c"),
        tracer.start_as_current_span("caller"),
    ):
        assert pool.submit(work).result(timeout=10) == (None, None, None)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert attrs(spans["worker"]) == {}
    assert parent_name(spans, "worker") is None  # the current span is lost too


def test_context_thread_pool_submit_carries_session_and_span(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("t")

    def work(name: str) -> Ids:
        tracer.start_span(name).end()
        return current_ids()

    with (
        ContextThreadPoolExecutor(max_workers=2) as pool,
        session_context("s", "u", "c"),
        tracer.start_as_current_span("caller"),
    ):
        assert pool.submit(work, "worker").result(timeout=10) == ("s", "u", "c")
        assert pool.submit(work, name="kw-worker").result(timeout=10) == ("s", "u", "c")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    for name in ("worker", "kw-worker"):
        assert attrs(spans[name]) == {"session.id": "s", "user.id": "u", "customer.id": "c"}
        assert parent_name(spans, name) == "caller"


def test_context_thread_pool_map_carries_session(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("t")

    def work(i: int) -> Ids:
        tracer.start_span(f"item-{i}").end()
        return current_ids()

    with (
        ContextThreadPoolExecutor(max_workers=4) as pool,
        session_context(session_id="mapped", customer_id="acme"),
    ):
        results = list(pool.map(work, range(20), timeout=10))
    assert results == [("mapped", None, "acme")] * 20
    spans = exporter.get_finished_spans()
    assert len(spans) == 20
    assert all(attrs(s) == {"session.id": "mapped", "customer.id": "acme"} for s in spans)


def test_context_thread_pool_takes_the_context_at_submit_time() -> None:
    gate = threading.Event()

    def work() -> Ids:
        gate.wait(timeout=10)
        return current_ids()

    with ContextThreadPoolExecutor(max_workers=2) as pool:
        with session_context(session_id="first"):
            first = pool.submit(work)
        with session_context(session_id="second"):
            second = pool.submit(work)
        outside = pool.submit(work)
        gate.set()
        assert first.result(timeout=10) == ("first", None, None)
        assert second.result(timeout=10) == ("second", None, None)
        assert outside.result(timeout=10) == (None, None, None)


def test_context_thread_pool_workers_do_not_leak_between_tasks() -> None:
    def set_and_read() -> Ids:
        before = current_ids()
        set_session_context(session_id="set-in-worker")
        return before

    with ContextThreadPoolExecutor(max_workers=1) as pool:
        with session_context(session_id="a"):
            assert pool.submit(set_and_read).result(timeout=10) == ("a", None, None)
        # the same worker thread, a later task: neither "a" nor "set-in-worker"
        assert pool.submit(current_ids).result(timeout=10) == (None, None, None)
    assert get_session_context().is_empty()


def test_context_thread_pool_many_sessions_concurrently() -> None:
    with ContextThreadPoolExecutor(max_workers=8) as pool:
        futures = {}
        for i in range(200):
            with session_context(session_id=f"s-{i}", user_id=f"u-{i}"):
                futures[i] = pool.submit(current_ids)
        for i, future in futures.items():
            assert future.result(timeout=10) == (f"s-{i}", f"u-{i}", None)


def test_bind_context_snapshot(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("t")

    def work(suffix: str, *, flag: bool) -> Ids:
        tracer.start_span(f"bound-{suffix}").end()
        return current_ids()

    with session_context("s", "u"), tracer.start_as_current_span("caller"):
        bound = bind_context(work)
    assert bound.__name__ == "work"
    # called later, outside the session, and in a plain thread
    assert bound("here", flag=True) == ("s", "u", None)
    assert get_session_context().is_empty()
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(bound, "thread", flag=False).result(timeout=10) == ("s", "u", None)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    for name in ("bound-here", "bound-thread"):
        assert attrs(spans[name]) == {"session.id": "s", "user.id": "u"}
        assert parent_name(spans, name) == "caller"


def test_bind_context_calls_are_isolated_from_each_other() -> None:
    def change_then_read(value: str) -> Ids:
        before = current_ids()
        set_session_context(session_id=value)
        return before

    with session_context(session_id="snapshot"):
        bound = bind_context(change_then_read)
    barrier = threading.Barrier(4)

    def run(i: int) -> list[Ids]:
        barrier.wait(timeout=10)
        return [bound(f"changed-{i}-{n}") for n in range(50)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = [r for chunk in pool.map(run, range(4)) for r in chunk]
    assert results == [("snapshot", None, None)] * 200
    assert bound("again") == ("snapshot", None, None)


@pytest.mark.anyio
async def test_loop_run_in_executor_does_not_carry_the_session() -> None:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1) as pool, session_context(session_id="s"):
        assert await loop.run_in_executor(pool, current_ids) == (None, None, None)


@pytest.mark.anyio
async def test_asyncio_to_thread_carries_the_session() -> None:
    with session_context(session_id="s", customer_id="c"):
        assert await asyncio.to_thread(current_ids) == ("s", None, "c")


@pytest.mark.anyio
async def test_run_in_executor_carries_session_and_span(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("t")

    def work(name: str, extra: int) -> tuple[Ids, int]:
        tracer.start_span(name).end()
        return current_ids(), extra

    with (
        ThreadPoolExecutor(max_workers=2) as pool,
        session_context("s", "u", "c"),
        tracer.start_as_current_span("caller"),
    ):
        assert await run_in_executor(pool, work, "pooled", 1) == (("s", "u", "c"), 1)
        assert await run_in_executor(None, work, "default", 2) == (("s", "u", "c"), 2)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    for name in ("pooled", "default"):
        assert attrs(spans[name]) == {"session.id": "s", "user.id": "u", "customer.id": "c"}
        assert parent_name(spans, name) == "caller"


@pytest.mark.anyio
async def test_run_in_executor_isolates_concurrent_tasks() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:

        async def request(i: int) -> Ids:
            async with session_context(session_id=f"s-{i}"):
                await asyncio.sleep(0)
                return await run_in_executor(pool, current_ids)

        results = await asyncio.gather(*(request(i) for i in range(50)))
    assert results == [(f"s-{i}", None, None) for i in range(50)]


def test_worker_thread_current_span_is_invalid_without_helpers() -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        span = pool.submit(trace.get_current_span).result(timeout=10)
    assert not span.get_span_context().is_valid
    assert isinstance(get_session_context(), SessionContext)
