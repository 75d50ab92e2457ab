"""Jobs handed to another task or thread: capture the session with the job,
re-enter it where the job runs.

A request puts its prompt on an ``asyncio.Queue``; a batcher task, started at
lifespan (so it inherits no request's context), makes the model calls. And a
thread pool that someone else created (a vendor SDK's, say) runs a summary.
Neither sees the request's session by itself. The one-liners::

    queue.put_nowait((prompt, get_session_context()))        # capture with the job
    with session_context.resume(session): ...                # re-enter where it runs

    pool.submit(session_context.resume(get_session_context())(summarise), text)

Run it (a real uvicorn server on 127.0.0.1, concurrent requests of three
conversations; every model span must carry its own request's ids)::

    python examples/queued_jobs.py
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import SessionContext, get_session_context, session_context
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.processor import SessionSpanProcessor

# A pool made by code that is not yours: you cannot swap it for
# ContextThreadPoolExecutor, you can only submit to it.
vendor_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vendor")


@dataclass
class Job:
    prompt: str
    session: SessionContext  # captured when the job was made
    reply: asyncio.Future[str]


def create_app(tracer_provider: TracerProvider, batch_size: int = 8) -> Any:
    tracer = tracer_provider.get_tracer("queued-jobs")

    async def batcher(queue: asyncio.Queue[Job]) -> None:
        """One task for the whole process: each batch holds several conversations."""
        while True:
            batch = [await queue.get()]
            await asyncio.sleep(0.01)  # let a few more arrive
            while len(batch) < batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            with tracer.start_as_current_span("model batch"):  # serves many: no ids
                for job in batch:
                    with session_context.resume(job.session):  # the request's session
                        job.reply.set_result(call_model(job.prompt))

    def call_model(prompt: str) -> str:
        with tracer.start_as_current_span("chat model"):
            return prompt.upper()

    def summarise(text: str) -> str:
        with tracer.start_as_current_span("summarise"):
            return text[:10]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.queue = queue = asyncio.Queue[Job]()
        task = asyncio.create_task(batcher(queue))
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.post("/chat")
    async def chat(body: dict[str, str]) -> dict[str, str]:
        reply = asyncio.get_running_loop().create_future()
        app.state.queue.put_nowait(Job(body["prompt"], get_session_context(), reply))
        return {"reply": await reply}

    @app.post("/summary")
    async def summary(body: dict[str, str]) -> dict[str, str]:
        job = session_context.resume(get_session_context())(summarise)
        return {"summary": await asyncio.wrap_future(vendor_pool.submit(job, body["text"]))}

    return GenAISessionMiddleware(app)


async def send_requests(base_url: str, rounds: int) -> None:
    users = {"conv-a": "alice", "conv-b": "bob", "conv-c": "carol"}
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        requests = [
            client.post(
                path,
                json={"prompt": f"hi {index}", "text": "a long text"},
                headers={"X-Session-ID": conversation, "X-User-ID": user},
            )
            for index in range(rounds)
            for conversation, user in users.items()
            for path in ("/chat", "/summary")
        ]
        for response in await asyncio.gather(*requests):
            response.raise_for_status()


def main() -> int:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(provider), lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        asyncio.run(send_requests(f"http://127.0.0.1:{sock.getsockname()[1]}", rounds=5))
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()

    spans = exporter.get_finished_spans()
    owner = {"conv-a": "alice", "conv-b": "bob", "conv-c": "carol"}

    def owned(attributes: Any) -> bool:  # the ids of one request, both of them
        return owner.get(attributes.get("session.id")) == attributes.get("user.id") is not None

    wrong = 0
    for name in ("chat model", "summarise"):
        named = [span for span in spans if span.name == name]
        right = sum(1 for span in named if owned(span.attributes or {}))
        wrong += len(named) - right
        print(f"{len(named)} {name!r} spans, {right} with their own request's session and user")
    batches = [span for span in spans if span.name == "model batch"]
    batched = [span for span in batches if "session.id" not in (span.attributes or {})]
    print(f"{len(batches)} batches made by the lifespan task, {len(batched)} without ids")
    print(f"{wrong} spans with no ids or another request's ids.")
    return 0 if wrong == 0 and batches and len(batched) == len(batches) else 1


if __name__ == "__main__":
    sys.exit(main())
