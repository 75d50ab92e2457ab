"""Celery tasks run in the session they were sent in, and in nothing else.

``instrument_celery()`` puts the session in the task message headers and runs
the task in it on the worker. Here with Celery's in-memory broker and a worker
thread of this process, which shares no context with the sender: the session
reaches the task only through the message (tests/celery does the same with a
real redis-server and a real worker process).

    python examples/celery_tasks.py
"""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery, chain
from celery.contrib.testing.worker import start_worker
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import get_session_context, session_context, set_session_context
from otel_genai_session.celery import instrument_celery
from otel_genai_session.processor import SessionSpanProcessor

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SessionSpanProcessor())
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("tasks")

app = Celery("chat", broker="memory://", backend="cache+memory://")
app.conf.update(broker_transport_options={"polling_interval": 0.01})
instrument_celery()  # in the module both the sender and the worker import
CeleryInstrumentor().instrument(tracer_provider=provider)  # consumer/producer spans


def seen() -> str:
    with tracer.start_as_current_span("model call"):
        session = get_session_context()
        return f"{session.session_id or '-'} {session.user_id or '-'}"


@app.task
def summarise(text: str) -> str:
    return seen()


@app.task
def careless(text: str) -> str:
    answer = seen()
    set_session_context(session_id="left-behind")  # never reset: must not leak
    return answer


@app.task(bind=True, max_retries=1, default_retry_delay=0)
def flaky(self: Any, text: str) -> str:
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return seen()


@app.task
def then(previous: str, text: str) -> str:
    return seen()


def main() -> int:
    rows = []
    with start_worker(app, pool="solo", perform_ping_check=False):
        with session_context(session_id="conv-1", user_id="ada"):
            rows.append(("task sent in conv-1", careless.delay("hi"), "conv-1 ada"))
        rows.append(("next task, sent outside a session", summarise.delay("hi"), "- -"))
        with session_context(session_id="conv-2", user_id="bob"):
            rows.append(("a retried task, second try", flaky.delay("hi"), "conv-2 bob"))
            chained = chain(summarise.s("a"), then.s("b")).delay()
            rows.append(("the second task of a chain", chained, "conv-2 bob"))
        ok = True
        for label, result, expected in rows:
            got = result.get(timeout=30, interval=0.01)
            ok = ok and got == expected
            print(f"{label:<36} {got:<12} {'ok' if got == expected else 'UNEXPECTED'}")
    consumers = [span for span in exporter.get_finished_spans() if span.name.startswith("run/")]
    tagged = sum(1 for span in consumers if (span.attributes or {}).get("session.id"))
    print(f"{len(consumers)} consumer spans (instrumentation-celery), {tagged} with ids")
    CeleryInstrumentor().uninstrument()
    return 0 if ok and tagged == len(consumers) - 1 else 1


if __name__ == "__main__":
    sys.exit(main())
