"""Scopes we do not handle pass through untouched (pitfall 9 and 10).

Lifespan messages reach the app as they were sent, no session is set (the app
sees whatever was in effect outside) and no ``receive`` call is made for us.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from otel_genai_session import session_context
from otel_genai_session.middleware import SESSION_KEY, GenAISessionMiddleware

from .apps import Endpoints, Framework, build_app
from .support import (
    NO_IDS,
    Ids,
    Message,
    Receive,
    Scope,
    ScriptedReceive,
    Send,
    SendRecorder,
    async_client,
    current_ids,
    ids_from_json,
    ids_of,
    serve,
)

pytestmark = pytest.mark.anyio

EVERY_OPTION: dict[str, Any] = {
    "cookie_mapping": {"sid": "session_id"},
    "query_mapping": {"sid": "session_id"},
    "body_mapping": {"session_id": "session_id"},
    "generate_session_id": True,
    "response_header": "X-Session-ID",
    "extract": lambda scope: {"user_id": "from-hook"},
}


class RecordingLifespanApp:
    """Speaks the lifespan protocol and records exactly what it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[Scope, Receive, Send, Ids]] = []
        self.received: list[Message] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append((scope, receive, send, current_ids()))
        if scope["type"] != "lifespan":
            return
        for phase in ("startup", "shutdown"):
            message = await receive()
            self.received.append(message)
            await send({"type": f"lifespan.{phase}.complete"})


@pytest.mark.parametrize("scope_type", ["lifespan", "webtransport"])
async def test_passes_through_untouched_without_a_session(scope_type: str) -> None:
    inner = RecordingLifespanApp()
    startup = {"type": "lifespan.startup", "state": {}}
    shutdown = {"type": "lifespan.shutdown"}
    receive = ScriptedReceive([startup, shutdown])
    send = SendRecorder()
    scope: Scope = {"type": scope_type, "asgi": {"version": "3.0"}, "state": {}}
    frozen = dict(scope)
    with session_context(session_id="outer"):
        await GenAISessionMiddleware(inner, **EVERY_OPTION)(scope, receive, send)
    [(seen_scope, seen_receive, seen_send, ids)] = inner.seen
    assert seen_scope is scope and scope == frozen and SESSION_KEY not in scope
    assert seen_receive is receive and seen_send is send
    assert ids == ("outer", None, None), "no session set, none reset"
    if scope_type == "lifespan":
        assert inner.received[0] is startup and inner.received[1] is shutdown
        assert send.types == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        assert receive.calls == 2
    else:
        assert receive.calls == 0 and send.messages == []


@pytest.mark.parametrize("install", ["add_middleware", "wrap"])
async def test_lifespan_through_uvicorn(
    framework: Framework,
    tracer_provider: TracerProvider,
    endpoints: Endpoints,
    exporter: InMemorySpanExporter,
    install: str,
) -> None:
    """A real server runs startup and shutdown through the middleware; spans made
    there carry no ids, and requests in between do."""
    tracer = tracer_provider.get_tracer("t")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with tracer.start_as_current_span("startup"):
            pass
        yield
        with tracer.start_as_current_span("shutdown"):
            pass

    app: Any = build_app(framework, endpoints, lifespan=lifespan)
    if install == "wrap":
        app = GenAISessionMiddleware(app, **EVERY_OPTION)
    else:
        app.add_middleware(GenAISessionMiddleware, **EVERY_OPTION)
    with serve(app, lifespan="on") as url:
        assert [span.name for span in exporter.get_finished_spans()] == ["startup"]
        async with async_client(url) as client:
            response = await client.get("/ids", headers={"X-Session-ID": "s1"})
    assert ids_from_json(response.json()) == ("s1", "from-hook", None)
    spans = {span.name: ids_of(span) for span in exporter.get_finished_spans()}
    assert spans["startup"] == NO_IDS and spans["shutdown"] == NO_IDS
    assert spans["endpoint"] == ("s1", "from-hook", None)


async def test_mounted_sub_app_with_its_own_options_is_passed_through_and_logged(
    connect: Any, caplog: pytest.LogCaptureFixture, reported: None
) -> None:
    """Issue 13, item 11: a sub-application under a Starlette ``Mount`` with its
    own ``cookie_mapping``, inside an app whose middleware has none. The outer
    instance handles the request (the inner one passes it through, as before),
    and the difference is logged once, naming the option, not the request."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from otel_genai_session.middleware._options import NESTED_OPTIONS_DIFFER

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse(list(current_ids()))

    sub_app = Starlette(routes=[Route("/whoami", whoami)])
    sub_app.add_middleware(GenAISessionMiddleware, cookie_mapping={"chat": "session_id"})
    app = Starlette(routes=[Mount("/chat", app=sub_app)])
    app.add_middleware(GenAISessionMiddleware)
    async with connect(app) as client:
        for _ in range(3):
            response = await client.get(
                "/chat/whoami", headers={"X-User-ID": "u1", "Cookie": "chat=c-1"}
            )
            assert response.json() == [None, "u1", None]  # the outer options: no cookie
    warnings = [r.getMessage() for r in caplog.records if r.name == "otel_genai_session"]
    assert warnings == [NESTED_OPTIONS_DIFFER % ("GenAISessionMiddleware", "cookie_mapping")]
