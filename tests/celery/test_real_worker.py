"""A real Celery worker process and a real Redis broker: the session crosses.

The test process publishes inside sessions (and outside one); a prefork worker
with one child runs every task on the same process, one after the other. Each
task reports the session it saw, and the worker writes its spans (the task's
own, and opentelemetry-instrumentation-celery's consumer span) to a file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.celery import instrument_celery, uninstrument_celery
from tests.span_file import ids, read_spans

from . import worker_app
from .conftest import WorkerFactory

pytestmark = pytest.mark.servers

TIMEOUT = 60


@pytest.fixture
def publisher(redis_socket: str, tracer_provider: TracerProvider) -> Iterator[None]:
    """This process as the publisher: ours and OpenTelemetry's instrumentation."""
    worker_app.configure(redis_socket)
    instrument_celery()
    CeleryInstrumentor().instrument(tracer_provider=tracer_provider)
    try:
        yield
    finally:
        CeleryInstrumentor().uninstrument()
        uninstrument_celery()


def wait_for_worker() -> None:
    deadline = time.monotonic() + TIMEOUT
    while not worker_app.app.control.ping(timeout=0.5):
        assert time.monotonic() < deadline, "the Celery worker did not answer within 60 s"


@pytest.mark.parametrize("order", ["ours-first", "otel-first"])
def test_tasks_run_in_the_publisher_session_and_nothing_leaks(
    celery_worker_process: WorkerFactory,
    publisher: None,
    exporter: InMemorySpanExporter,
    order: str,
) -> None:
    spans_file = celery_worker_process(order)
    wait_for_worker()
    sent: list[tuple[str, tuple[str | None, str | None, str | None]]] = []
    results = []
    for index in range(12):
        label = f"t{index}"
        if index % 3 == 2:  # every third task: sent outside any session
            expected: tuple[str | None, str | None, str | None] = (None, None, None)
            results.append(worker_app.record.delay(label))
        else:
            expected = (f"conv-{index}", f"user-{index}", "acme")
            with session_context(*expected):
                task = worker_app.leak if index % 3 == 1 else worker_app.record
                results.append(task.delay(label))
        sent.append((label, expected))

    seen = [result.get(timeout=TIMEOUT) for result in results]

    assert [(s["label"], (s["session_id"], s["user_id"], s["customer_id"])) for s in seen] == sent
    assert len({s["pid"] for s in seen}) == 1, "all tasks ran on one worker process"
    spans = read_spans(spans_file, expected=len(sent) * 3)
    by_label = dict(sent)
    by_task_id = {result.id: expected for result, (_, expected) in zip(results, sent, strict=True)}
    task_spans = [span for span in spans if span["kind"] == "INTERNAL"]
    consumers = [span for span in spans if span["kind"] == "CONSUMER"]
    assert len(task_spans) == 2 * len(sent) and len(consumers) == len(sent)
    for span in task_spans:  # task.tN and task.tN.child
        assert ids(span) == by_label[span["name"].split(".")[1]], span
    for span in consumers:  # run/xproc.record, started by opentelemetry-instrumentation-celery
        assert ids(span) == by_task_id[span["attributes"]["messaging.message.id"]], span
    # The publisher's producer spans carry the ids of the session they were sent in.
    producers = [s for s in exporter.get_finished_spans() if s.name.startswith("apply_async/")]
    assert sorted((s.attributes or {}).get("session.id") or "" for s in producers) == sorted(
        expected[0] or "" for _, expected in sent
    )


def test_retries_and_chained_tasks_keep_the_session(
    celery_worker_process: WorkerFactory, publisher: None
) -> None:
    spans_file = celery_worker_process("otel-first")
    wait_for_worker()

    with session_context("conv-r", "ada", "acme"):
        retried = worker_app.retry_once.delay("r")
        chained = worker_app.chained("c").apply_async()
    after = worker_app.record.delay("after")  # sent outside: nothing inherited

    final_try = retried.get(timeout=TIMEOUT)
    first, second = chained.get(timeout=TIMEOUT)
    assert [
        (s["label"], s["session_id"], s["user_id"], s["customer_id"])
        for s in (final_try, first, second)
    ] == [
        ("r.try1", "conv-r", "ada", "acme"),
        ("c.first", "conv-r", "ada", "acme"),
        ("c.second", "conv-r", "ada", "acme"),
    ]
    assert after.get(timeout=TIMEOUT)["session_id"] is None
    # r.try0, r.try1, c.first, c.second, after: two spans each, five consumer spans.
    spans = read_spans(spans_file, expected=15)
    for span in spans:
        expected = (None, None, None) if "after" in span["name"] else ("conv-r", "ada", "acme")
        if span["kind"] == "CONSUMER":
            continue  # checked by task id in the test above
        assert ids(span) == expected, span
    assert {span["name"] for span in spans} >= {"task.r.try0", "task.r.try1", "task.c.second"}
