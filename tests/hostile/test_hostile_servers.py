"""Clients that vanish mid-stream, against real servers on loopback.

uvicorn (h11 and httptools) with a Starlette StreamingResponse, and werkzeug's
threaded server with a streaming WSGI iterable: the client reads the first
chunk and resets the connection. Afterwards the session is back to empty
outside our middleware, the response generator saw the request's ids to the
end, every span carries them, the WSGI iterable was closed exactly once, and
OpenTelemetry never logged "Failed to detach context".
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from _hostile import run_asgi
from _servers import raw_exchange, read_then_vanish, running_uvicorn, running_werkzeug
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from otel_genai_session import SessionContext, get_session_context
from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware
from otel_genai_session.session import EMPTY_SESSION

pytestmark = pytest.mark.servers

CHUNK = b"x" * 65536
MAX_CHUNKS = 1500  # bounds a run whose client never goes (about 8 s at 5 ms a chunk)
GONE = SessionContext(session_id="gone-1", user_id="u-gone")
STREAM_REQUEST = (
    b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Session-ID: gone-1\r\nX-User-ID: u-gone\r\n\r\n"
)
WHOAMI = b"GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def detach_failures(records: Iterable[Any]) -> list[str]:
    return [r.getMessage() for r in records if "Failed to detach context" in r.getMessage()]


def chunk_span_sessions(exporter: InMemorySpanExporter) -> set[tuple[Any, Any]]:
    return {
        ((s.attributes or {}).get("session.id"), (s.attributes or {}).get("user.id"))
        for s in exporter.get_finished_spans()
        if s.name == "chunk"
    }


class AsgiProbe:
    """Outermost layer: records the session after everything inside returned."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.after: list[SessionContext] = []
        self.done = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http" and scope["path"] == "/stream":
                self.after.append(get_session_context())
                self.done.set()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("http", ["h11", "httptools"])
@pytest.mark.parametrize("order", ["ours-outside-otel", "ours-inside-otel"])
def test_uvicorn_client_gone_mid_stream(
    http: str,
    order: str,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    genai_logs: pytest.LogCaptureFixture,
) -> None:
    tracer = tracer_provider.get_tracer("hostile")
    seen: list[SessionContext] = []
    finished: list[SessionContext] = []

    async def stream(request: Request) -> StreamingResponse:
        async def body() -> Any:
            try:
                for _ in range(MAX_CHUNKS):
                    with tracer.start_as_current_span("chunk"):
                        seen.append(get_session_context())
                    yield CHUNK
                    await asyncio.sleep(0.005)
            finally:
                finished.append(get_session_context())

        return StreamingResponse(body())

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse(list(get_session_context().attributes.items()))

    app: Any = Starlette(routes=[Route("/stream", stream), Route("/whoami", whoami)])
    if order == "ours-outside-otel":
        app = GenAISessionMiddleware(OpenTelemetryMiddleware(app, tracer_provider=tracer_provider))
    else:
        app = OpenTelemetryMiddleware(GenAISessionMiddleware(app), tracer_provider=tracer_provider)
    probe = AsgiProbe(app)

    with running_uvicorn(probe, http=http) as port:
        assert read_then_vanish(port, STREAM_REQUEST, at_least=len(CHUNK)) >= len(CHUNK)
        assert probe.done.wait(20), "the request never finished after the client left"
        after_response = raw_exchange(port, WHOAMI)

    assert probe.after == [EMPTY_SESSION]
    assert finished == [GONE]
    assert 1 <= len(seen) < MAX_CHUNKS
    assert set(seen) == {GONE}
    assert chunk_span_sessions(exporter) == {("gone-1", "u-gone")}
    assert after_response.endswith(b"\r\n\r\n[]")
    assert detach_failures(genai_logs.records) == []


class WsgiProbe:
    """Outermost WSGI layer: after the server closes the response, records the
    session on the server thread and the number of inner close() calls."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.after: list[SessionContext] = []
        self.done = threading.Event()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        inner = self.app(environ, start_response)
        if environ["PATH_INFO"] != "/stream":
            return inner
        probe = self

        class Closing:
            def __iter__(self) -> Iterator[bytes]:
                return iter(inner)

            def close(self) -> None:
                try:
                    inner.close()
                finally:
                    probe.after.append(get_session_context())
                    probe.done.set()

        return Closing()


@pytest.mark.timeout(60)
def test_werkzeug_client_gone_mid_stream(
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    genai_logs: pytest.LogCaptureFixture,
) -> None:
    tracer = tracer_provider.get_tracer("hostile")
    seen: list[SessionContext] = []
    closed_in: list[SessionContext] = []

    class Stream:
        def __iter__(self) -> Iterator[bytes]:
            for _ in range(MAX_CHUNKS):
                with tracer.start_as_current_span("chunk"):
                    seen.append(get_session_context())
                yield CHUNK
                time.sleep(0.005)

        def close(self) -> None:
            closed_in.append(get_session_context())

    def app(environ: Any, start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/whoami":
            body = json.dumps(list(get_session_context().attributes.items())).encode()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Stream()

    probe = WsgiProbe(SessionWSGIMiddleware(app))
    with running_werkzeug(probe) as port:
        assert read_then_vanish(port, STREAM_REQUEST, at_least=len(CHUNK)) >= len(CHUNK)
        assert probe.done.wait(20), "the server never closed the response"
        after_response = raw_exchange(port, WHOAMI)

    assert closed_in == [GONE]  # exactly once, in the request's session
    assert probe.after == [EMPTY_SESSION]
    assert 1 <= len(seen) < MAX_CHUNKS
    assert set(seen) == {GONE}
    assert chunk_span_sessions(exporter) == {("gone-1", "u-gone")}
    assert after_response.endswith(b"\r\n\r\n[]")
    assert detach_failures(genai_logs.records) == []


def whoami_wsgi(environ: Any, start_response: Any) -> list[bytes]:
    body = json.dumps([get_session_context().session_id, environ.get("HTTP_COOKIE")]).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param((b"foo=1", b"sid=abc"), id="id-cookie-second"),
        pytest.param((b"sid=abc", b"foo=1"), id="id-cookie-first"),
    ],
)
def test_repeated_cookie_lines_under_werkzeug_match_asgi(lines: tuple[bytes, bytes]) -> None:
    """Two Cookie lines (an HTTP/1.1 client should send one; proxies and
    HTTP/2 down-converters may not): werkzeug (like gunicorn) joins them with
    ",", the ASGI middleware with "; ". Both must accept the same session id;
    before the fix WSGI accepted "abc,foo=1" or nothing."""
    from _hostile import RawRequest, echo_asgi

    options: dict[str, Any] = {"cookie_mapping": {"sid": "session_id"}}
    asgi = run_asgi(
        GenAISessionMiddleware(echo_asgi, **options),
        RawRequest(headers=tuple((b"cookie", line) for line in lines)),
    )
    assert asgi.session == ("abc", None, None)
    request = (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + b"".join(b"Cookie: " + line + b"\r\n" for line in lines)
        + b"\r\n"
    )
    with running_werkzeug(SessionWSGIMiddleware(whoami_wsgi, **options)) as port:
        response = raw_exchange(port, request)
    session_id, cookie = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert cookie == ",".join(line.decode() for line in lines)  # what werkzeug hands over
    assert session_id == asgi.session[0]
