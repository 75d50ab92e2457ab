"""WSGI section: a trivial Flask route and a 5-line WSGI app behind each variant.

Driven with a raw environ and ``start_response``; the driver iterates the
response to the end and closes it, as a server does. Variants: bare; the floor
(three environ keys -> one contextvar set around the app call and the whole
iteration); ours; OpenTelemetry's WSGI middleware (SDK tracer provider).
Scenarios: GET, a 50-chunk and a 1-chunk generator response; the per-chunk
cost is (overhead at 50 chunks - overhead at 1 chunk) / 49.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from _harness import Block, Result, Settings, measure, now
from _references import WSGIFloor

__all__ = ["CHUNKS", "run", "serve"]

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
CHUNKS = 50
_CHUNK = b"data: a token of a streamed completion\n\n"
_ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_HOST": "127.0.0.1:8000",
    "HTTP_USER_AGENT": "bench/1.0",
    "HTTP_ACCEPT": "*/*",
    "HTTP_X_SESSION_ID": "conv-7f3a9c2e",
    "HTTP_X_USER_ID": "user-1842",
    "HTTP_X_TENANT_ID": "acme-corp",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": True,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}
_SCENARIOS = {"GET": "/", "stream-50": "/stream", "stream-1": "/stream1"}


def five_line_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    path = environ["PATH_INFO"]
    if path == "/":
        return [b"Hello, world!"]
    return (_CHUNK for _ in range(CHUNKS if path == "/stream" else 1))


def flask_app() -> WSGIApp:
    from flask import Flask, Response

    app = Flask("bench")

    @app.get("/")
    def hello() -> str:
        return "Hello, world!"

    def chunks(count: int) -> Iterator[bytes]:
        for _ in range(count):
            yield _CHUNK

    @app.get("/stream")
    def stream() -> Response:
        return Response(chunks(CHUNKS), mimetype="text/event-stream")

    @app.get("/stream1")
    def stream1() -> Response:
        return Response(chunks(1), mimetype="text/event-stream")

    return app.wsgi_app  # type: ignore[return-value]


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return _write


def _write(data: bytes) -> None:
    pass


def serve(app: WSGIApp, environ: dict[str, Any], start_response: Any) -> None:
    """One request, as a server runs it: the app call, the whole response, ``close()``."""
    result = app(environ, start_response)
    try:
        for _chunk in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def wsgi_block(app: WSGIApp, path: str) -> Block:
    template = {**_ENVIRON, "PATH_INFO": path, "wsgi.input": io.BytesIO()}

    def block(n: int) -> float:
        start_response = _start_response
        started = now()
        for _ in range(n):
            serve(app, template.copy(), start_response)
        return now() - started

    return block


def _check(app: WSGIApp, path: str) -> None:
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return _write

    body = b"".join(
        app({**_ENVIRON, "PATH_INFO": path, "wsgi.input": io.BytesIO()}, start_response)
    )
    if statuses != ["200 OK"] or not body:
        raise RuntimeError(f"benchmark request failed: {statuses} {path}")


def _verify_ours() -> None:
    from otel_genai_session import get_session_context
    from otel_genai_session.middleware import SessionWSGIMiddleware

    seen: list[Any] = []

    def probe(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(get_session_context())
        start_response("200 OK", [])
        return [b""]

    environ = {**_ENVIRON, "PATH_INFO": "/", "wsgi.input": io.BytesIO()}
    list(SessionWSGIMiddleware(probe)(environ, _start_response))
    if seen[0].session_id != _ENVIRON["HTTP_X_SESSION_ID"]:
        raise RuntimeError(f"the middleware did not find the ids: {seen[0]}")


def _variants(notes: list[str]) -> list[tuple[str, Callable[[WSGIApp], WSGIApp]]]:
    from otel_genai_session.middleware import SessionWSGIMiddleware

    variants: list[tuple[str, Callable[[WSGIApp], WSGIApp]]] = [
        ("floor (contextvar)", WSGIFloor),  # type: ignore[list-item]
        ("ours", SessionWSGIMiddleware),
    ]
    try:
        from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError as error:
        notes.append(f"wsgi: otel-wsgi skipped ({error.name} not installed)")
        return variants
    provider = TracerProvider()
    variants.append(
        (
            "otel-wsgi (sdk)",
            lambda app: OpenTelemetryMiddleware(
                app, tracer_provider=provider, meter_provider=NoOpMeterProvider()
            ),
        )
    )
    return variants


def run(settings: Settings, notes: list[str]) -> list[Result]:
    _verify_ours()
    targets: list[tuple[str, Callable[[], WSGIApp]]] = [("wsgi 5-line", lambda: five_line_app)]
    try:
        import flask  # noqa: F401

        targets.insert(0, ("flask", flask_app))
    except ImportError:
        notes.append("wsgi: flask skipped (not installed)")
    results: list[Result] = []
    for target, make_app in targets:
        for scenario, path in _SCENARIOS.items():
            apps = [("bare", make_app())]
            apps += [(name, wrap(make_app())) for name, wrap in _variants(notes)]
            for _, app in apps:
                _check(app, path)
            blocks = [(name, wsgi_block(app, path)) for name, app in apps]
            results += measure("wsgi", target, scenario, blocks, settings)
    return results
