"""Failure paths and stacking: exceptions, cancellation, BaseHTTPMiddleware, double wrap.

Pitfalls 6, 7, 8 and 11: spans before a raise carry the ids, the very exception
propagates, nothing is left behind; the middleware works on either side of a
``BaseHTTPMiddleware``; applied twice it reads the body once and sets the ids once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import anyio
import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from otel_genai_session import get_session_context, session_context, set_session_context
from otel_genai_session.middleware import SESSION_KEY, GenAISessionMiddleware

from .apps import Boom, Endpoints, Framework, build_app
from .conftest import Connect, MakeApp, Served
from .support import (
    NO_IDS,
    BodyReadingApp,
    Receive,
    Scope,
    ScriptedReceive,
    Send,
    SendRecorder,
    async_client,
    body_messages,
    current_ids,
    http_scope,
    ids_from_json,
    ids_of,
    spans_named,
)

pytestmark = pytest.mark.anyio

HEADERS = [(b"x-session-id", b"s1"), (b"x-user-id", b"u1")]


async def test_raw_app_exception_propagates_unwrapped(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("t")
    raised = Boom("boom")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        with tracer.start_as_current_span("before-boom"):
            pass
        raise raised

    middleware = GenAISessionMiddleware(app)
    with session_context(session_id="outer"):
        with pytest.raises(Boom) as caught:
            await middleware(http_scope(headers=HEADERS), ScriptedReceive(), SendRecorder())
        assert current_ids() == ("outer", None, None), "restored to what it was"
    assert caught.value is raised and caught.value.__cause__ is None
    assert ids_of(spans_named(exporter, "before-boom")[0]) == ("s1", "u1", None)


async def test_framework_exception_propagates_and_next_request_is_clean(
    make_app: MakeApp, endpoints: Endpoints, exporter: InMemorySpanExporter
) -> None:
    """Through Starlette's ServerErrorMiddleware (which re-raises after the 500)."""
    before = get_session_context()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app()), base_url="http://testserver"
    ) as client:
        with pytest.raises(Boom) as caught:
            await client.get("/boom", headers={"X-Session-ID": "s1"})
        assert caught.value is endpoints.raised[0]
        assert get_session_context() is before
        after = await client.get("/ids")
    assert ids_from_json(after.json()) == NO_IDS
    assert ids_of(spans_named(exporter, "before-boom")[0]) == ("s1", None, None)
    assert ids_of(spans_named(exporter, "endpoint")[0]) == NO_IDS


async def test_500_on_uvicorn_then_a_clean_request(
    make_app: MakeApp, served: Served, exporter: InMemorySpanExporter
) -> None:
    """uvicorn answers 500 and closes the connection after an unhandled exception;
    the next request (a new connection on the same server loop) has no ids."""
    url = served(make_app())
    async with async_client(url) as client:
        failed = await client.get("/boom", headers={"X-Session-ID": "s1"})
    async with async_client(url) as client:
        after = await client.get("/ids")
    assert failed.status_code == 500
    assert ids_from_json(after.json()) == NO_IDS
    assert ids_of(spans_named(exporter, "before-boom")[0]) == ("s1", None, None)
    assert ids_of(spans_named(exporter, "endpoint")[0]) == NO_IDS


@pytest.mark.parametrize("how", ["task.cancel", "anyio-cancel-scope"])
async def test_cancellation_propagates_and_restores(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter, how: str
) -> None:
    tracer = tracer_provider.get_tracer("t")
    running = asyncio.Event()
    seen_after: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        with tracer.start_as_current_span("before-cancel"):
            pass
        running.set()
        await asyncio.Event().wait()

    middleware = GenAISessionMiddleware(app)

    async def request() -> None:
        try:
            await middleware(http_scope(headers=HEADERS), ScriptedReceive(), SendRecorder())
        finally:
            seen_after.append(current_ids())

    if how == "task.cancel":
        task = asyncio.ensure_future(request())
        await asyncio.wait_for(running.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    else:
        with anyio.move_on_after(5) as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(request)
                await running.wait()
                group.cancel_scope.cancel()
        assert not scope.cancelled_caught, "the cancel did not take within 5 s"
    assert seen_after == [NO_IDS]
    assert ids_of(spans_named(exporter, "before-cancel")[0]) == ("s1", "u1", None)


class TagResponse(BaseHTTPMiddleware):
    """A typical BaseHTTPMiddleware: it reads the session and stamps the response."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["x-seen-session"] = str(get_session_context().session_id)
        return response


@pytest.mark.parametrize("ours", ["inside", "outside"])
async def test_base_http_middleware_on_either_side(
    framework: Framework,
    endpoints: Endpoints,
    connect: Connect,
    exporter: InMemorySpanExporter,
    ours: str,
) -> None:
    app = build_app(framework, endpoints)
    if ours == "inside":
        app.add_middleware(GenAISessionMiddleware, body_mapping={"session_id": "session_id"})
        app.add_middleware(TagResponse)
    else:
        app.add_middleware(TagResponse)
        app.add_middleware(GenAISessionMiddleware, body_mapping={"session_id": "session_id"})
    async with connect(app) as client:
        plain = await client.post("/ids", json={"session_id": "s-body"})
        async with client.stream("GET", "/stream-async", headers={"X-Session-ID": "s2"}) as r:
            lines = [json.loads(line) async for line in r.aiter_lines() if line]
    assert ids_from_json(plain.json()) == ("s-body", None, None)
    assert plain.headers["x-seen-session"] == ("s-body" if ours == "outside" else "None")
    assert [ids_of(span) for span in spans_named(exporter, "endpoint")] == [("s-body", None, None)]
    assert [ids_from_json(line)[0] for line in lines] == ["s2"] * 5
    assert [ids_of(span)[0] for span in spans_named(exporter, "chunk-")] == ["s2"] * 5


async def test_double_wrapping_reads_once_and_sets_once() -> None:
    """Pitfall 11: the inner instance sees the scope key and passes through, so the
    outer one's configuration and ids hold, and the body is read once."""
    document = b'{"session_id": "s-body", "user_id": "u-body"}'
    app = BodyReadingApp()
    inner = GenAISessionMiddleware(
        app, body_mapping={"user_id": "session_id"}, header_mapping={"X-Other": "user_id"}
    )
    outer = GenAISessionMiddleware(
        inner, body_mapping={"session_id": "session_id", "user_id": "user_id"}
    )
    messages = body_messages(document, 3)
    receive = ScriptedReceive(messages)
    length = str(len(document)).encode()
    scope = http_scope(
        headers=[
            (b"content-type", b"application/json"),
            (b"content-length", length),
            (b"x-other", b"ignored"),
        ]
    )
    with session_context(session_id="outer"):
        await outer(scope, receive, SendRecorder())
        assert current_ids() == ("outer", None, None)
    assert app.ids == ("s-body", "u-body", None)
    assert scope[SESSION_KEY].session_id == "s-body"
    assert receive.calls == len(messages)
    assert app.body == document


async def test_added_twice_to_a_framework_app(
    make_app: MakeApp, connect: Connect, exporter: InMemorySpanExporter
) -> None:
    app = make_app(body_mapping={"session_id": "session_id"})
    app.add_middleware(GenAISessionMiddleware, body_mapping={"session_id": "session_id"})
    async with connect(app) as client:
        response = await client.post("/echo", json={"session_id": "s-body"})
    assert ids_from_json(response.json()) == ("s-body", None, None)
    assert response.json()["length"] == len(b'{"session_id":"s-body"}')
    assert [ids_of(span) for span in spans_named(exporter, "echo")] == [("s-body", None, None)]


async def test_app_that_sets_a_session_itself_leaks_nothing() -> None:
    """An endpoint that calls set_session_context and never clears it: the change
    stays inside the request."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        set_session_context(session_id="set-by-app")

    await GenAISessionMiddleware(app)(
        http_scope(headers=HEADERS), ScriptedReceive(), SendRecorder()
    )
    assert current_ids() == NO_IDS
