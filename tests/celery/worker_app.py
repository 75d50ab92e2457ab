"""The Celery app of the real-worker tests: the same module for the test (the
publisher) and the worker process it starts.

Configured from the environment the test gives the worker: the Redis unix
socket, the file the worker's spans are written to (one JSON line each), and
the order in which our instrumentation and OpenTelemetry's are applied.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from celery import Celery, chain, signals
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from otel_genai_session import get_session_context, set_session_context
from otel_genai_session.celery import instrument_celery
from tests.span_file import install_global_provider

app = Celery("xproc")


def configure(socket_path: str) -> None:
    """Broker and result backend: the test's redis-server, on its unix socket."""
    app.conf.broker_url = f"redis+socket://{socket_path}"
    app.conf.result_backend = f"redis+socket://{socket_path}"


configure(os.environ.get("XPROC_REDIS_SOCKET", "/nonexistent/redis.sock"))
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    result_expires=300,
)
tracer = trace.get_tracer("xproc.tasks")


def instrument(order: str, tracer_provider: TracerProvider) -> None:
    """Ours and OpenTelemetry's Celery instrumentation, in the given order."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    steps = [
        instrument_celery,
        lambda: CeleryInstrumentor().instrument(tracer_provider=tracer_provider),
    ]
    for step in steps if order == "ours-first" else reversed(steps):
        step()


@signals.worker_process_init.connect(weak=False)
def _init_worker_process(**_: Any) -> None:
    """In each worker (child) process: its own provider, then the instrumentation."""
    path = os.environ.get("XPROC_SPANS_FILE")
    if path is None:  # imported by the publisher, not a worker
        return
    provider = install_global_provider(path)
    instrument(os.environ.get("XPROC_ORDER", "ours-first"), provider)


def _seen(label: str) -> dict[str, Any]:
    session = get_session_context()
    with (
        tracer.start_as_current_span(f"task.{label}"),
        tracer.start_as_current_span(f"task.{label}.child"),
    ):
        pass
    return {
        "label": label,
        "session_id": session.session_id,
        "user_id": session.user_id,
        "customer_id": session.customer_id,
        "properties": dict(session.properties),
        "pid": os.getpid(),
        "thread": threading.get_ident(),
    }


@app.task(name="xproc.record")
def record(label: str) -> dict[str, Any]:
    return _seen(label)


@app.task(name="xproc.leak")
def leak(label: str) -> dict[str, Any]:
    """A careless task: reports, then sets a session and never resets it."""
    seen = _seen(label)
    set_session_context(session_id="leaked-by-a-task", user_id="leaker")
    return seen


@app.task(name="xproc.retry_once", bind=True, max_retries=2, default_retry_delay=0)
def retry_once(self: Any, label: str) -> dict[str, Any]:
    seen = _seen(f"{label}.try{self.request.retries}")
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return seen


@app.task(name="xproc.then")
def then(previous: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return [previous, _seen(label)]


def chained(label: str) -> Any:
    return chain(record.s(f"{label}.first"), then.s(f"{label}.second"))
