"""Real Starlette and FastAPI apps for the ASGI middleware tests.

Both frameworks serve the same endpoints, so every behaviour is proven on each;
FastAPI adds what only it has (a Pydantic body model, injected BackgroundTasks).
Endpoints create spans through the test's provider (tagged with the request's
``X-Tag`` header, to tell requests apart) and answer with the session they saw.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal

import httpx
from fastapi import BackgroundTasks as FastAPIBackgroundTasks
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from otel_genai_session import get_session_context
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.types import LLMInvocation

Framework = Literal["starlette", "fastapi"]
FRAMEWORKS: tuple[Framework, ...] = ("starlette", "fastapi")
TAG = "test.tag"
CHUNKS = 5


class Boom(Exception):
    """The error /boom raises: tests check this very instance propagates."""


class ChatIn(BaseModel):
    message: str


def session_json() -> dict[str, str | None]:
    session = get_session_context()
    return {
        "session_id": session.session_id,
        "user_id": session.user_id,
        "customer_id": session.customer_id,
    }


def _tag(request: Request | WebSocket) -> str:
    return request.headers.get("x-tag", "")


class Endpoints:
    """The endpoints, bound to the test's tracer provider and GenAI handler."""

    def __init__(self, tracer_provider: TracerProvider, handler: TelemetryHandler) -> None:
        self.tracer = tracer_provider.get_tracer("t")
        self.handler = handler
        # Set by the client-span tests: makes the client the endpoint calls out with
        # (made per request, so it lives on the loop that serves the request).
        self.downstream: Callable[[], httpx.AsyncClient] | None = None
        self.raised: list[Boom] = []
        self.stream_closed = threading.Event()
        self.in_flight = 0  # /work requests running now, and the most seen at once
        self.most_in_flight = 0

    def span(self, name: str, tag: str = "") -> Any:
        return self.tracer.start_as_current_span(name, attributes={TAG: tag})

    async def ids(self, request: Request) -> Response:
        with self.span("endpoint", _tag(request)):
            invocation = LLMInvocation(request_model="fake-model", provider="fake")
            with self.handler.llm(invocation):
                await asyncio.sleep(0)
        client_port = request.client.port if request.client else None
        return JSONResponse({**session_json(), "client_port": client_port})

    def ids_sync(self, request: Request) -> Response:
        with self.span("endpoint-sync", _tag(request)):
            return JSONResponse(session_json())

    async def echo(self, request: Request) -> Response:
        body = await request.body()
        with self.span("echo", _tag(request)):
            digest = hashlib.sha256(body).hexdigest()
        return JSONResponse({**session_json(), "sha256": digest, "length": len(body)})

    async def strict_json(self, request: Request) -> Response:
        body = await request.body()
        digest = hashlib.sha256(body).hexdigest()
        try:
            json.loads(body)
        except (ValueError, RecursionError):
            return JSONResponse({"error": "malformed JSON", "sha256": digest}, status_code=400)
        return JSONResponse({**session_json(), "sha256": digest})

    async def stream_async(self, request: Request) -> Response:
        tag = _tag(request)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                for i in range(CHUNKS):
                    await asyncio.sleep(0.01)
                    with self.span(f"chunk-{i}", tag):
                        yield (json.dumps(session_json()) + "\n").encode()
            finally:
                self.stream_closed.set()

        return StreamingResponse(chunks(), media_type="application/x-ndjson")

    async def stream_forever(self, request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                for i in range(10_000):  # bounded: the client leaves long before
                    with self.span(f"forever-{i}", _tag(request)):
                        yield b"x" * 1024 + b"\n"
                    await asyncio.sleep(0.005)
            finally:
                self.stream_closed.set()

        return StreamingResponse(chunks(), media_type="text/plain")

    async def stream_sync(self, request: Request) -> Response:
        tag = _tag(request)

        def chunks() -> Iterator[bytes]:
            for i in range(CHUNKS):
                time.sleep(0.002)
                with self.span(f"sync-chunk-{i}", tag):
                    yield (json.dumps(session_json()) + "\n").encode()

        return StreamingResponse(chunks(), media_type="application/x-ndjson")

    async def sse(self, request: Request) -> Response:
        tag = _tag(request)

        async def events() -> AsyncIterator[str]:
            for i in range(CHUNKS):
                await asyncio.sleep(0.005)
                with self.span(f"event-{i}", tag):
                    yield f"id: {i}\nevent: ids\ndata: {json.dumps(session_json())}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _background_async(self, tag: str) -> None:
        await asyncio.sleep(0.01)
        with self.span("background-async", tag):
            pass

    def _background_sync(self, tag: str) -> None:
        with self.span("background-sync", tag):
            pass

    async def background(self, request: Request) -> Response:
        tasks = BackgroundTasks()
        tasks.add_task(self._background_async, _tag(request))
        tasks.add_task(self._background_sync, _tag(request))
        return JSONResponse(session_json(), background=tasks)

    async def fastapi_background(
        self, request: Request, background_tasks: FastAPIBackgroundTasks
    ) -> dict[str, str | None]:
        background_tasks.add_task(self._background_async, _tag(request))
        background_tasks.add_task(self._background_sync, _tag(request))
        return session_json()

    async def typed(self, payload: ChatIn) -> dict[str, str | None]:
        return {"message": payload.message, **session_json()}

    async def boom(self, request: Request) -> Response:
        with self.span("before-boom", _tag(request)):
            pass
        error = Boom("boom")
        self.raised.append(error)
        raise error

    def _thread_work(self, tag: str) -> None:
        with self.span("work-thread", tag):
            time.sleep(random.random() * 0.001)

    async def work(self, request: Request) -> Response:
        """Awaits, thread-pool work and a GenAI span: the concurrency test's endpoint."""
        tag = _tag(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            with self.span("work-1", tag):
                await asyncio.sleep(random.random() * 0.005)
            await run_in_threadpool(self._thread_work, tag)
            await asyncio.sleep(random.random() * 0.005)
            invocation = LLMInvocation(request_model="fake-model", attributes={TAG: tag})
            with self.handler.llm(invocation):
                await asyncio.sleep(0)
            with self.span("work-2", tag):
                pass
        finally:
            self.in_flight -= 1
        return JSONResponse({**session_json(), "tag": tag})

    async def call_downstream(self, request: Request) -> Response:
        assert self.downstream is not None, "the test sets a downstream client"
        async with self.downstream() as client:
            response = await client.get("/anything")
        return JSONResponse({**session_json(), "downstream_status": response.status_code})

    async def cookies(self, request: Request) -> Response:
        """Two Set-Cookie headers, and the session header itself when ?own= is given."""
        response = JSONResponse(session_json())
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        own = request.query_params.get("own")
        if own is not None:
            response.headers["X-Session-ID"] = own
        return response

    async def anything(self, request: Request) -> Response:
        with self.span("anything", _tag(request)):
            return JSONResponse(session_json())

    async def ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            text = await websocket.receive_text()
            if text == "bye":
                break
            with self.span(f"ws-{text}", _tag(websocket)):
                await websocket.send_json(session_json())
        await websocket.close()

    async def ws_reject(self, websocket: WebSocket) -> None:
        with self.span("ws-reject", _tag(websocket)):
            await websocket.close(code=1008)


_HTTP_ROUTES: tuple[tuple[str, str, list[str]], ...] = (
    ("/ids", "ids", ["GET", "POST"]),
    ("/ids-sync", "ids_sync", ["GET", "POST"]),
    ("/echo", "echo", ["POST", "PUT"]),
    ("/strict-json", "strict_json", ["POST"]),
    ("/stream-async", "stream_async", ["GET", "POST"]),
    ("/stream-forever", "stream_forever", ["GET"]),
    ("/stream-sync", "stream_sync", ["GET"]),
    ("/sse", "sse", ["GET"]),
    ("/background", "background", ["GET"]),
    ("/boom", "boom", ["GET", "POST"]),
    ("/work", "work", ["GET"]),
    ("/downstream", "call_downstream", ["GET"]),
    ("/cookies", "cookies", ["GET"]),
)
_WS_ROUTES = (("/ws", "ws"), ("/ws-reject", "ws_reject"))


def build_app(framework: Framework, endpoints: Endpoints, **kwargs: Any) -> Starlette:
    """The bare framework app (no middleware yet); ``kwargs`` go to its constructor."""
    if framework == "starlette":
        routes: list[Any] = [
            Route(path, getattr(endpoints, name), methods=methods)
            for path, name, methods in _HTTP_ROUTES
        ]
        routes += [WebSocketRoute(path, getattr(endpoints, name)) for path, name in _WS_ROUTES]
        routes.append(Route("/{path:path}", endpoints.anything, methods=["GET"]))
        return Starlette(routes=routes, **kwargs)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, **kwargs)
    for path, name, methods in _HTTP_ROUTES:
        app.add_api_route(path, getattr(endpoints, name), methods=methods)
    for path, name in _WS_ROUTES:
        app.add_api_websocket_route(path, getattr(endpoints, name))
    app.add_api_route("/typed", endpoints.typed, methods=["POST"])
    app.add_api_route("/fastapi-background", endpoints.fastapi_background, methods=["GET"])
    app.add_api_route("/{path:path}", endpoints.anything, methods=["GET"])
    return app
