"""examples/fastapi_chat.py: through its factory, and run as a script on a free port."""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import IO

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .support import ids_of, sync_client

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "fastapi_chat.py"
AGENT, TOOL, MODEL = "invoke_agent assistant", "execute_tool word_count", "chat fake-chat-1"


@pytest.fixture(scope="module")
def fastapi_chat() -> ModuleType:
    """The example imported as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("fastapi_chat_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def client(
    fastapi_chat: ModuleType, tracer_provider: TracerProvider
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fastapi_chat.build_app(tracer_provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://chat") as client:
        yield client


def turn_spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {AGENT, TOOL, MODEL}
    agent = spans[AGENT].context
    assert agent is not None
    for child in (spans[TOOL], spans[MODEL]):
        assert child.parent is not None and child.parent.span_id == agent.span_id
    return spans


def test_module_exposes_app_and_factory(fastapi_chat: ModuleType) -> None:
    from fastapi import FastAPI

    assert isinstance(fastapi_chat.app, FastAPI)
    assert callable(fastapi_chat.build_app)


@pytest.mark.anyio
async def test_ids_from_header_and_body_on_every_span(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    response = await client.post(
        "/chat",
        json={"message": "hello there", "session_id": "conv-1"},
        headers={"X-User-ID": "alice", "X-Tenant-ID": "acme"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "reply": "You said 2 words: hello there",
        "session_id": "conv-1",
        "user_id": "alice",
    }
    assert response.headers["x-session-id"] == "conv-1"
    spans = turn_spans(exporter)
    assert {name: ids_of(span) for name, span in spans.items()} == {
        name: ("conv-1", "alice", "acme") for name in spans
    }
    assert (spans[MODEL].attributes or {})["gen_ai.usage.output_tokens"] == 6


@pytest.mark.anyio
async def test_streamed_reply_spans_carry_the_ids(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    async with client.stream(
        "POST", "/chat?stream=true", json={"message": "stream it"}, headers={"X-Session-ID": "c7"}
    ) as response:
        tokens = [line async for line in response.aiter_lines() if line]
    assert tokens == ["You", "said", "2", "words:", "stream", "it"]
    assert response.headers["x-session-id"] == "c7"
    spans = turn_spans(exporter)
    assert [ids_of(span) for span in spans.values()] == [("c7", None, None)] * 3


@pytest.mark.anyio
async def test_a_generated_session_continues_through_the_header(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    first = await client.post("/chat", json={"message": "hi"})
    session_id = first.headers["x-session-id"]
    assert uuid.UUID(session_id).version == 4
    second = await client.post(
        "/chat", json={"message": "again"}, headers={"X-Session-ID": session_id}
    )
    assert first.json()["session_id"] == second.json()["session_id"] == session_id
    assert {ids_of(span) for span in exporter.get_finished_spans()} == {(session_id, None, None)}


@pytest.mark.anyio
async def test_missing_message_is_fastapis_422(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    response = await client.post("/chat", json={"session_id": "conv-1"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "message"]
    assert exporter.get_finished_spans() == ()


class LineReader:
    """A child's stdout, read line by line in a thread, so waits are bounded even
    when several lines arrive in one read (a selector on a buffered pipe would
    miss the ones already buffered)."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)  # end of output

    def wait_for(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in {self.seen!r}")


def test_runs_as_a_script_on_a_free_port() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "*"})
    process = subprocess.Popen(
        [sys.executable, "-W", "error", str(EXAMPLE), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    output = LineReader(process.stdout)
    try:
        banner = output.wait_for(r"Serving on http://127\.0\.0\.1:\d+", timeout=30)
        base = re.search(r"http://127\.0\.0\.1:\d+", banner).group(0)  # type: ignore[union-attr]
        with sync_client(base) as http:
            response = http.post(
                "/chat", json={"message": "ping"}, headers={"X-Session-ID": "conv-42"}
            )
        span_line = output.wait_for(re.escape(f"span '{AGENT}'"), timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=10)  # uvicorn stops on SIGTERM (and re-raises it)
        if process.stdout is not None:
            process.stdout.close()

    assert response.status_code == 200
    assert response.json()["reply"] == "You said 1 words: ping"
    assert response.headers["x-session-id"] == "conv-42"
    assert "session.id=conv-42" in span_line
