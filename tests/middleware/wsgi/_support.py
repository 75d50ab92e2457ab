"""Helpers shared by the WSGI tests: server-built environs, direct calls, span ids.

Direct calls go through :func:`call`, a minimal PEP 3333 server loop (iterate,
then close), so the tests see exactly what a server would: the status, the
headers as sent, the body bytes, and any exception the app raised.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import SessionContext, get_session_context
from otel_genai_session.middleware import (
    SESSION_KEY,
    GenAISessionMiddleware,
    SessionWSGIMiddleware,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ID_KEYS = ("session.id", "user.id", "customer.id")

RawHeaders = Sequence[tuple[bytes, bytes]]


def ids_of(span: ReadableSpan) -> dict[str, str]:
    """The session attributes of one exported span."""
    attributes = span.attributes or {}
    return {key: str(attributes[key]) for key in ID_KEYS if key in attributes}


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def only_span(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    spans = spans_named(exporter, name)
    assert len(spans) == 1, [span.name for span in exporter.get_finished_spans()]
    return spans[0]


def session_dict(session: SessionContext) -> dict[str, str | None]:
    return {
        "session_id": session.session_id,
        "user_id": session.user_id,
        "customer_id": session.customer_id,
    }


def make_environ(
    method: str = "GET",
    path: str = "/",
    query: bytes = b"",
    headers: RawHeaders = (),
    body: bytes = b"",
    *,
    chunked: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The environ a PEP 3333 server builds from these wire bytes.

    Values are the raw bytes decoded as latin-1; a repeated header's lines are
    joined with ``,`` (werkzeug, gunicorn, wsgiref all do); Content-Length is
    passed as given (no header, no CONTENT_LENGTH). ``chunked`` marks the input
    as terminated (``wsgi.input_terminated``), as servers do for chunked bodies.
    """
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        key = name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
            if key in environ:
                text = f"{environ[key]},{text}"
        environ[key] = text
    if chunked:
        environ["wsgi.input_terminated"] = True
    environ.update(extra or {})
    return environ


@dataclass
class Response:
    """What a server sent: status, headers of the *last* start_response, body."""

    status: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    start_calls: int = 0

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def call(app: WSGIApplication, environ: WSGIEnvironment) -> Response:
    """Run ``app`` as a server would: call, iterate, close (also on error).

    ``start_response`` follows PEP 3333: a second call needs ``exc_info`` and
    re-raises it once output has started; ``write()`` appends to the body.
    """
    response = Response()
    sent = False

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if response.start_calls and exc_info is None:
            raise AssertionError("start_response called twice without exc_info")
        if exc_info is not None and sent:
            raise exc_info[1].with_traceback(exc_info[2])
        response.status, response.headers = status, list(headers)
        response.start_calls += 1
        return write

    def write(data: bytes) -> None:
        nonlocal sent
        sent = True
        response.body += data

    result = app(environ, start_response)
    try:
        for chunk in result:
            sent = True
            response.body += chunk
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return response


def seen_by_wsgi(environ: dict[str, Any], **options: Any) -> SessionContext:
    """The session a WSGI app behind the middleware has in effect."""
    seen: list[SessionContext] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.append(get_session_context())
        assert environ[SESSION_KEY] == seen[0]
        start_response("204 No Content", [])
        return []

    call(SessionWSGIMiddleware(app, **options), environ)
    return seen[0]


def asgi_scope(
    method: str = "GET", path: str = "/", query: bytes = b"", headers: RawHeaders = ()
) -> dict[str, Any]:
    """An HTTP/1.1 scope as uvicorn builds it: lower-case names, raw value bytes."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8"),
        "root_path": "",
        "query_string": query,
        "headers": [(name.lower(), value) for name, value in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


def seen_by_asgi(scope: dict[str, Any], body: bytes = b"", **options: Any) -> SessionContext:
    """The session an ASGI app behind GenAISessionMiddleware has in effect."""
    seen: list[SessionContext] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(get_session_context())
        assert scope[SESSION_KEY] == seen[0]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        return None

    asyncio.run(GenAISessionMiddleware(app, **options)(scope, receive, send))
    return seen[0]


def raise_exc_info() -> Any:
    """``sys.exc_info()`` of a freshly raised error, for start_response(..., exc_info)."""
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        return sys.exc_info()


class Probe:
    """An outer WSGI layer recording the session on the server's own thread:
    before the request, after the app call and after close(). Whatever the
    middleware or the app leaked would show up here."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.seen: list[SessionContext] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.seen.append(get_session_context())
        result = self.app(environ, start_response)
        self.seen.append(get_session_context())
        return self._body(result)

    def _body(self, result: Iterable[bytes]) -> Iterable[bytes]:
        try:
            yield from result
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            self.seen.append(get_session_context())
