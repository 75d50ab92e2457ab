"""The session lasts until the last byte: streamed bodies, SSE, background tasks.

Pitfalls 1-3 and 7: the ids must be in effect while a ``StreamingResponse``
generator runs (after the endpoint returned) and while background tasks run
(after the response was sent), and nothing must be left behind afterwards.
"""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import get_session_context

from .apps import CHUNKS, Endpoints
from .conftest import Connect, MakeApp, Served
from .support import (
    NO_IDS,
    async_client,
    current_ids,
    ids_from_json,
    ids_of,
    spans_named,
    wait_until,
)

pytestmark = pytest.mark.anyio

IDS = ("s-stream", "u-stream", "t-stream")
HEADERS = {"X-Session-ID": IDS[0], "X-User-ID": IDS[1], "X-Tenant-ID": IDS[2]}


@pytest.mark.parametrize(
    ("path", "span_prefix"),
    [
        pytest.param("/stream-async", "chunk-", id="async-generator"),
        pytest.param("/stream-sync", "sync-chunk-", id="sync-generator"),
    ],
)
async def test_streamed_chunks_carry_the_ids(
    make_app: MakeApp,
    connect: Connect,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
    path: str,
    span_prefix: str,
) -> None:
    """Each chunk is made (and spanned) after the endpoint returned, with awaits or a
    thread hop between chunks; all carry the ids, and nothing outlives the request."""
    before = get_session_context()
    async with connect(make_app()) as client:
        async with client.stream("GET", path, headers=HEADERS) as response:
            lines = [json.loads(line) async for line in response.aiter_lines() if line]
        assert get_session_context() is before
    assert [ids_from_json(line) for line in lines] == [IDS] * CHUNKS
    spans = spans_named(exporter, span_prefix)
    assert [span.name for span in spans] == [f"{span_prefix}{i}" for i in range(CHUNKS)]
    assert [ids_of(span) for span in spans] == [IDS] * CHUNKS

    tracer_provider.get_tracer("t").start_span("after-response").end()
    assert ids_of(spans_named(exporter, "after-response")[0]) == NO_IDS
    assert current_ids() == NO_IDS


async def test_server_sent_events_carry_the_ids(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    async with (
        connect(make_app()) as client,
        client.stream("GET", "/sse", headers=HEADERS) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [
            json.loads(line.removeprefix("data: "))
            async for line in response.aiter_lines()
            if line.startswith("data: ")
        ]
    assert [ids_from_json(event) for event in data] == [IDS] * CHUNKS
    assert [ids_of(span) for span in spans_named(exporter, "event-")] == [IDS] * CHUNKS


async def test_background_tasks_carry_the_ids(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    """Background tasks run after the response was sent, still inside the app call."""
    before = get_session_context()
    async with connect(make_app()) as client:
        response = await client.get("/background", headers=HEADERS)
        assert ids_from_json(response.json()) == IDS
        wait_until(lambda: len(spans_named(exporter, "background-")) == 2)
    names = {span.name: ids_of(span) for span in spans_named(exporter, "background-")}
    assert names == {"background-async": IDS, "background-sync": IDS}
    assert get_session_context() is before


@pytest.mark.parametrize("framework", ["fastapi"])
async def test_fastapi_injected_background_tasks_carry_the_ids(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    async with connect(make_app()) as client:
        response = await client.get("/fastapi-background", headers=HEADERS)
        assert ids_from_json(response.json()) == IDS
        wait_until(lambda: len(spans_named(exporter, "background-")) == 2)
    assert [ids_of(span) for span in spans_named(exporter, "background-")] == [IDS, IDS]


async def test_body_ids_and_streaming_after_replay_on_uvicorn(
    make_app: MakeApp, served: Served, exporter: InMemorySpanExporter
) -> None:
    """Pitfall 16: under ASGI spec 2.3 (uvicorn), StreamingResponse listens for a
    disconnect on ``receive`` while streaming; after our replay that must reach the
    real server (no made-up disconnect), so every chunk arrives."""
    app = make_app(body_mapping={"session_id": "session_id", "user.id": "user_id"})
    url = served(app)
    async with (
        async_client(url) as client,
        client.stream(
            "POST", "/stream-async", json={"session_id": "s-body", "user": {"id": "u-body"}}
        ) as response,
    ):
        lines = [json.loads(line) async for line in response.aiter_lines() if line]
    expected = ("s-body", "u-body", None)
    assert [ids_from_json(line) for line in lines] == [expected] * CHUNKS
    assert [ids_of(span) for span in spans_named(exporter, "chunk-")] == [expected] * CHUNKS


async def test_client_leaving_mid_stream_on_uvicorn(
    make_app: MakeApp,
    served: Served,
    endpoints: Endpoints,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Pitfall 7: the client drops the connection mid-stream; the server cancels the
    app; the reset happens without errors and the next request is clean."""
    url = served(make_app())
    with caplog.at_level(logging.DEBUG):
        async with async_client(url) as client:
            async with client.stream("GET", "/stream-forever", headers=HEADERS) as response:
                async for _ in response.aiter_bytes():
                    break  # leave after the first chunk: the connection is closed
            wait_until(endpoints.stream_closed.is_set)
            after = await client.get("/ids")
    assert ids_from_json(after.json()) == NO_IDS
    streamed = spans_named(exporter, "forever-")
    assert streamed
    assert all(ids_of(span) == IDS for span in streamed)
    assert ids_of(spans_named(exporter, "endpoint")[0]) == NO_IDS
    problems = [r for r in caplog.records if "detach" in r.getMessage() or r.exc_info]
    assert problems == []
