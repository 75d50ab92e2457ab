"""Jobs handed to another task or thread carry the session they were made in.

The one-liner of the README: capture with ``get_session_context()`` when the
job is made, re-enter with ``session_context.resume(...)`` where it runs. On an
``asyncio.Queue`` batcher started at lifespan (examples/queued_jobs.py, under a
real uvicorn server) and on a thread pool the application did not create.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import get_session_context, session_context
from tests.middleware.asgi.support import serve


def _load_example(name: str) -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


queued_jobs = _load_example("queued_jobs")

USERS = {"conv-a": "alice", "conv-b": "bob", "conv-c": "carol"}


def ids(span: Any) -> tuple[Any, Any]:
    attributes = span.attributes or {}
    return attributes.get("session.id"), attributes.get("user.id")


async def concurrent_requests(base_url: str, path: str, rounds: int) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    path,
                    json={"prompt": f"p{index}", "text": "some text"},
                    headers={"X-Session-ID": conversation, "X-User-ID": user},
                )
                for index in range(rounds)
                for conversation, user in USERS.items()
            )
        )
    assert all(response.status_code == 200 for response in responses)


@pytest.mark.parametrize("path,span_name", [("/chat", "chat model"), ("/summary", "summarise")])
def test_every_job_span_carries_its_own_request_session(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter, path: str, span_name: str
) -> None:
    with serve(queued_jobs.create_app(tracer_provider), lifespan="on") as url:
        asyncio.run(concurrent_requests(url, path, rounds=10))

    spans = [span for span in exporter.get_finished_spans() if span.name == span_name]
    assert len(spans) == 30
    assert sorted(ids(span) for span in spans) == sorted(list(USERS.items()) * 10)
    # The batches serve several conversations at once: no ids on them.
    for span in exporter.get_finished_spans():
        if span.name == "model batch":
            assert ids(span) == (None, None)


def test_a_batcher_that_does_not_resume_loses_the_ids(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The control: the same queue and lifespan task, without resume."""
    tracer = tracer_provider.get_tracer("control")

    async def scenario() -> None:
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()

        async def batcher() -> None:
            while True:
                await queue.get()  # (prompt, session): the session left unused
                with tracer.start_as_current_span("no resume"):
                    pass
                queue.task_done()

        task = asyncio.create_task(batcher())  # before any session: as at lifespan
        async with session_context(session_id="conv-x", user_id="alice"):
            queue.put_nowait(("hi", get_session_context()))
        await queue.join()
        task.cancel()

    asyncio.run(scenario())
    (span,) = exporter.get_finished_spans()
    assert ids(span) == (None, None)


def test_a_pool_someone_else_made_runs_the_job_in_the_submitter_session(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("pool")

    def call_model(prompt: str) -> tuple[str | None, str | None]:
        with tracer.start_as_current_span(f"model {prompt}"):
            session = get_session_context()
            return session.session_id, session.user_id

    with ThreadPoolExecutor(max_workers=1) as pool:  # one thread: reuse is certain
        with session_context(session_id="conv-p", user_id="alice"):
            resumed = pool.submit(session_context.resume(get_session_context())(call_model), "a")
            plain = pool.submit(call_model, "b")
            assert resumed.result(timeout=10) == ("conv-p", "alice")
            assert plain.result(timeout=10) == (None, None)
        after = pool.submit(call_model, "c").result(timeout=10)  # same thread, later

    assert after == (None, None), "the resumed session outlived its job"
    assert {span.name: ids(span) for span in exporter.get_finished_spans()} == {
        "model a": ("conv-p", "alice"),
        "model b": (None, None),
        "model c": (None, None),
    }
