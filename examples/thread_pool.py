"""Thread pools: what goes wrong with a plain pool, and the three ways to carry the session.

A ``ThreadPoolExecutor`` worker, and ``loop.run_in_executor``, run the callable
in the worker thread's own context: the session (and the current span) of the
code that submitted it are not there. Spans made in the worker then have no
ids and start a new trace. ``asyncio.to_thread`` copies the context already;
for the rest, ``otel_genai_session.executor`` has:

- ``ContextThreadPoolExecutor``: a drop-in ``ThreadPoolExecutor`` whose
  ``submit`` and ``map`` carry the submitter's context;
- ``bind_context(fn)``: ``fn`` bound to the context of the moment, for any
  pool, thread or callback API;
- ``run_in_executor(executor, fn, *args)``: ``loop.run_in_executor`` with the
  caller's context.

    python examples/thread_pool.py
"""

from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.executor import (
    ContextThreadPoolExecutor,
    bind_context,
    run_in_executor,
)
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.types import EmbeddingInvocation, Workflow

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SessionSpanProcessor())
provider.add_span_processor(SimpleSpanProcessor(exporter))
handler = TelemetryHandler(tracer_provider=provider)


def embed(label: str) -> str:
    """Work done in a worker thread: one embedding call, one span named after ``label``."""
    invocation = EmbeddingInvocation(request_model="fake-embedder", input_texts=["some text"])
    invocation.attributes["example.how"] = label
    with handler.embedding(invocation):
        pass
    return label


async def from_asyncio(pool: ThreadPoolExecutor) -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(pool, embed, "loop.run_in_executor")  # loses it
    await run_in_executor(pool, embed, "run_in_executor helper")
    await asyncio.to_thread(embed, "asyncio.to_thread")  # copies the context itself


def main() -> int:
    ways: list[tuple[str, bool]] = []  # (label, should carry the session)
    with (
        session_context(session_id="conv-42", user_id="alice", customer_id="acme"),
        handler.workflow(Workflow(name="fan-out")),
    ):
        with ThreadPoolExecutor(max_workers=2) as plain:
            plain.submit(embed, "plain ThreadPoolExecutor").result()
            ways.append(("plain ThreadPoolExecutor", False))

            plain.submit(bind_context(embed), "bind_context(fn) on a plain pool").result()
            ways.append(("bind_context(fn) on a plain pool", True))

            asyncio.run(from_asyncio(plain))
            ways += [
                ("loop.run_in_executor", False),
                ("run_in_executor helper", True),
                ("asyncio.to_thread", True),
            ]

        with ContextThreadPoolExecutor(max_workers=2) as pool:
            pool.submit(embed, "ContextThreadPoolExecutor.submit").result()
            list(pool.map(embed, ["ContextThreadPoolExecutor.map"]))
            ways += [
                ("ContextThreadPoolExecutor.submit", True),
                ("ContextThreadPoolExecutor.map", True),
            ]

        thread = threading.Thread(target=bind_context(embed), args=("bind_context(fn) Thread",))
        thread.start()
        thread.join()
        ways.append(("bind_context(fn) Thread", True))

    workflow_span_id = workflow_id(exporter.get_finished_spans())
    by_label = {
        str((s.attributes or {}).get("example.how")): s for s in exporter.get_finished_spans()
    }
    print("In a session (conv-42, alice, acme) and a workflow span, work ran in threads:\n")
    print(f"  {'how the work was run':<36} {'session.id':<11} {'user.id':<8} child of workflow")
    failures = []
    for label, should_carry in ways:
        span = by_label[label]
        attributes = span.attributes or {}
        session_id = attributes.get("session.id", "-")
        is_child = span.parent is not None and span.parent.span_id == workflow_span_id
        carried = session_id == "conv-42" and is_child
        verdict = "carried" if carried else "LOST"
        print(
            f"  {label:<36} {session_id!s:<11} {attributes.get('user.id', '-')!s:<8} "
            f"{'yes' if is_child else 'no':<6} {verdict}"
        )
        if should_carry and not carried:
            failures.append(label)
    print(
        "\nWith a plain pool or loop.run_in_executor, the worker's span has no ids and starts a"
        "\nnew trace: wrap the callable with bind_context, or use ContextThreadPoolExecutor or"
        "\nrun_in_executor (asyncio.to_thread already copies the context)."
    )
    if failures:
        print("Unexpected: lost in", ", ".join(failures))
        return 1
    return 0


def workflow_id(spans: tuple[ReadableSpan, ...]) -> int:
    return next(int(s.context.span_id) for s in spans if s.name == "invoke_workflow fan-out")


if __name__ == "__main__":
    sys.exit(main())
