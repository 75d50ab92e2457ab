"""instrument_celery() with Celery's in-memory transport and an in-thread worker.

Fast: the worker is a thread of this process (``pool="solo"``: every task on
that one thread), which shares no context variables with the test's thread,
so the session can only reach a task through the message headers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_genai_session import (
    SessionContext,
    get_session_context,
    session_context,
    set_session_context,
)
from otel_genai_session.attributes import PROPERTY_PREFIX
from otel_genai_session.celery import (
    HEADER,
    NOT_A_MAPPING,
    instrument_celery,
    is_instrumented,
    uninstrument_celery,
)
from otel_genai_session.privacy import (
    UserHash,
    disable_user_id_hashing,
    enable_user_id_hashing,
)
from otel_genai_session.session import MAX_PROPERTIES

app = Celery("in-memory", broker="memory://", backend="cache+memory://")
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    broker_transport_options={"polling_interval": 0.01},  # the default is 1 s
)
providers: list[TracerProvider] = []  # the current test's provider, for the tasks' spans


def _seen() -> list[str | None]:
    tracer = (providers[-1] if providers else trace.get_tracer_provider()).get_tracer("tasks")
    with tracer.start_as_current_span("task.body"):
        session = get_session_context()
    return [session.session_id, session.user_id, session.customer_id]


@app.task(name="mem.whoami")
def whoami() -> list[str | None]:
    return _seen()


@app.task(name="mem.leak")
def leak() -> list[str | None]:
    seen = _seen()
    set_session_context(session_id="leaked", user_id="leaker")  # never reset
    return seen


@contextmanager
def root_logger_kept() -> Iterator[None]:
    """start_worker sets up logging for a worker (root level ERROR, a stderr
    handler): put the test process's root logger back as it was."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    try:
        yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


@pytest.fixture(scope="module")
def worker() -> Iterator[None]:
    worker = start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10)
    with root_logger_kept():
        worker.__enter__()
    try:
        yield
    finally:
        worker.__exit__(None, None, None)


@pytest.fixture
def instrumented(worker: None, tracer_provider: TracerProvider) -> Iterator[None]:
    providers.append(tracer_provider)
    instrument_celery()
    try:
        yield
    finally:
        uninstrument_celery()
        providers.clear()


def ids(span: Any) -> list[Any]:
    attributes = span.attributes or {}
    return [attributes.get(key) for key in ("session.id", "user.id", "customer.id")]


def test_the_task_runs_in_the_session_it_was_sent_in(instrumented: None) -> None:
    with session_context("conv-1", "ada", "acme"):
        result = whoami.delay()
    assert result.get(timeout=10, interval=0.01) == ["conv-1", "ada", "acme"]
    assert whoami.delay().get(timeout=10, interval=0.01) == [None, None, None]


@pytest.mark.parametrize("order", ["ours-first", "otel-first"])
def test_consumer_producer_and_task_spans_carry_the_ids_in_either_order(
    worker: None, tracer_provider: TracerProvider, exporter: InMemorySpanExporter, order: str
) -> None:
    providers.append(tracer_provider)
    steps = [
        instrument_celery,
        lambda: CeleryInstrumentor().instrument(tracer_provider=tracer_provider),
    ]
    for step in steps if order == "ours-first" else reversed(steps):
        step()
    try:
        with session_context("conv-2", "ada", "acme"):
            assert whoami.delay().get(timeout=10, interval=0.01) == ["conv-2", "ada", "acme"]
        assert whoami.delay().get(timeout=10, interval=0.01) == [None, None, None]
    finally:
        CeleryInstrumentor().uninstrument()
        uninstrument_celery()
        providers.clear()

    spans = exporter.get_finished_spans()
    by_kind = {
        kind: [ids(span) for span in spans if span.kind is kind]
        for kind in (SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.INTERNAL)
    }
    with_ids, without = ["conv-2", "ada", "acme"], [None, None, None]
    assert by_kind == {
        SpanKind.PRODUCER: [with_ids, without],
        SpanKind.CONSUMER: [with_ids, without],
        SpanKind.INTERNAL: [with_ids, without],
    }


def test_a_task_without_a_session_runs_in_an_empty_one_after_a_leaking_task(
    instrumented: None,
) -> None:
    with session_context("conv-3", "ada"):
        assert leak.delay().get(timeout=10, interval=0.01) == ["conv-3", "ada", None]
    # Same worker thread (solo pool), no session sent: nothing inherited.
    assert whoami.delay().get(timeout=10, interval=0.01) == [None, None, None]
    with session_context(customer_id="acme"):
        assert whoami.delay().get(timeout=10, interval=0.01) == [None, None, "acme"]


def test_apply_runs_eagerly_in_the_caller_session_and_restores_it(instrumented: None) -> None:
    with session_context("conv-4", "ada") as outer:
        assert whoami.apply().get() == ["conv-4", "ada", None]
        assert get_session_context() is outer
    assert get_session_context().is_empty()


def test_a_bad_header_is_dropped_and_logged_without_its_value(
    instrumented: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        assert (
            whoami.apply_async(headers={HEADER: "s3cr3t"}).get(timeout=10, interval=0.01)
            == [None] * 3
        )
        forged = {"session_id": "conv-5", "user_id": "bad\r\nid", "customer_id": ["x"]}
        assert whoami.apply_async(headers={HEADER: forged}).get(timeout=10, interval=0.01) == [
            "conv-5",
            None,
            None,
        ]
    assert NOT_A_MAPPING % (HEADER, "str") in caplog.text
    assert "s3cr3t" not in caplog.text and "bad" not in caplog.text


def test_hashing_puts_user_hash_on_spans_and_the_raw_id_in_the_task(
    instrumented: None, exporter: InMemorySpanExporter
) -> None:
    enable_user_id_hashing(key=b"k" * 32)
    try:
        with session_context("conv-6", "ada@example.com"):
            assert whoami.delay().get(timeout=10, interval=0.01)[1] == "ada@example.com"
    finally:
        disable_user_id_hashing()
    (span,) = exporter.get_finished_spans()
    assert "user.id" not in (span.attributes or {})
    assert len(str((span.attributes or {})["user.hash"])) == 64


def test_instrument_is_idempotent_and_uninstrument_undoes_it(worker: None) -> None:
    instrument_celery()
    instrument_celery()
    assert is_instrumented()
    with session_context("conv-7"):
        assert whoami.delay().get(timeout=10, interval=0.01)[0] == "conv-7"
    uninstrument_celery()
    assert not is_instrumented()
    with session_context("conv-7"):
        assert whoami.delay().get(timeout=10, interval=0.01)[0] is None


def test_a_received_user_hash_stays_a_hash_in_the_task(
    instrumented: None, exporter: InMemorySpanExporter
) -> None:
    """Issue 22, item 4: a ``user.hash`` that came in baggage reaches the task
    as a hash (exported as ``user.hash``, not hashed again), hashing off here."""
    received = SessionContext._validated("conv-7", UserHash("ab" * 32), None)
    with session_context.resume(received):
        assert whoami.delay().get(timeout=10, interval=0.01)[1] == "ab" * 32
    (span,) = exporter.get_finished_spans()
    assert (span.attributes or {}).get("user.hash") == "ab" * 32
    assert "user.id" not in (span.attributes or {})


@app.task(name="mem.properties")
def properties_seen() -> dict[str, str]:
    tracer = (providers[-1] if providers else trace.get_tracer_provider()).get_tracer("tasks")
    with tracer.start_as_current_span("task.body"):
        return dict(get_session_context().properties)


def test_properties_travel_with_the_ids_and_reach_the_task_spans(
    instrumented: None, exporter: InMemorySpanExporter
) -> None:
    with session_context("conv-7", properties={"experiment": "b", "app.version": "3"}):
        seen = properties_seen.delay().get(timeout=10, interval=0.01)
    assert seen == {"experiment": "b", "app.version": "3"}
    (span,) = exporter.get_finished_spans()
    attributes = span.attributes or {}
    assert attributes["session.id"] == "conv-7"
    assert attributes[PROPERTY_PREFIX + "experiment"] == "b"
    assert attributes[PROPERTY_PREFIX + "app.version"] == "3"
    # A session of properties alone travels too; none at all sends nothing.
    with session_context(properties={"experiment": "c"}):
        assert properties_seen.delay().get(timeout=10, interval=0.01) == {"experiment": "c"}
    assert properties_seen.delay().get(timeout=10, interval=0.01) == {}


def test_forged_header_properties_are_bounded_and_never_logged(
    instrumented: None, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_genai_session import _validation

    _validation._reported.clear()
    forged_properties: dict[str, object] = {f"k{i}": "v" for i in range(MAX_PROPERTIES + 3)}
    forged_properties["s3cr3t key"] = "x"
    forged_properties["long"] = "s3cr3t" * 100
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        seen = properties_seen.apply_async(
            headers={HEADER: {"session_id": "conv-8", "properties": forged_properties}}
        ).get(timeout=10, interval=0.01)
        assert seen == {f"k{i}": "v" for i in range(MAX_PROPERTIES)}
        not_a_mapping = {"session_id": "conv-8", "properties": ["s3cr3t"]}
        assert (
            properties_seen.apply_async(headers={HEADER: not_a_mapping}).get(
                timeout=10, interval=0.01
            )
            == {}
        )
    assert "s3cr3t" not in caplog.text
