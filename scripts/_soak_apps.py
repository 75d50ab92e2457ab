"""The server side of scripts/soak.py: the apps, the probes, the servers.

Every server runs one app twice over: under ``/ours/`` behind the middleware,
under ``/bare/`` without it. A probe, the outermost layer, times every request
by kind (the client's ``X-Soak-Kind`` header) and variant into fixed-size
histograms, so measuring adds no memory as requests go by. Spans go to an
exporter that checks each one's ids against the ids the app parsed itself.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

STREAM_CHUNKS = 5
OPTIONS: dict[str, Any] = {
    "header_mapping": {"X-Session-ID": "session_id"},
    "cookie_mapping": {"uid": "user_id"},
    "body_mapping": {"tenant": "customer_id"},
    "query_mapping": {"tenant": "customer_id"},
    "baggage_mapping": {"session.id": "session_id"},
}
BUCKET_MS = 0.05  # latency histogram resolution
BUCKETS = 4000  # up to 200 ms; slower requests land in the last bucket


def rss_kb() -> int:
    gc.collect()
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class Stats:
    """Request and span counters, the cross-talk findings, latency histograms."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.spans = 0
        self.crosstalk = 0
        self.examples: list[str] = []
        self.histograms: dict[str, list[int]] = {}

    def timed(self, variant: str, kind: str, seconds: float) -> None:
        bucket = min(int(seconds * 1000 / BUCKET_MS), BUCKETS - 1)
        with self.lock:
            self.requests += 1
            key = f"{kind} {variant}"
            histogram = self.histograms.get(key)
            if histogram is None:
                histogram = self.histograms[key] = [0] * BUCKETS
            histogram[bucket] += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            result: dict[str, Any] = {
                "requests": self.requests,
                "spans": self.spans,
                "crosstalk": self.crosstalk,
                "examples": list(self.examples),
                "histograms": {key: list(h) for key, h in self.histograms.items()},
            }
        result["rss_kb"] = rss_kb()
        return result


def make_provider(stats: Stats) -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from otel_genai_session.processor import SessionSpanProcessor

    class CrossTalkExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            for span in spans:
                attributes = span.attributes or {}
                expected = attributes.get("soak.expect")
                if expected is None:
                    continue
                got = "|".join(
                    str(attributes.get(key)) for key in ("session.id", "user.id", "customer.id")
                )
                with stats.lock:
                    stats.spans += 1
                    if got != expected:
                        stats.crosstalk += 1
                        if len(stats.examples) < 5:
                            stats.examples.append(f"{span.name}: expected {expected} got {got}")
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(CrossTalkExporter()))
    return provider


def session_ids() -> list[str | None]:
    from otel_genai_session import get_session_context

    session = get_session_context()
    return [session.session_id, session.user_id, session.customer_id]


# -- ASGI ---------------------------------------------------------------------------------


def starlette_app(tracer: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    def expect(request: Request, tenant: str) -> str:
        return f"{request.headers['x-session-id']}|{request.cookies['uid']}|{tenant}"

    async def chat(request: Request) -> JSONResponse:
        expected = {"soak.expect": expect(request, (await request.json())["tenant"])}
        with tracer.start_as_current_span("chat", attributes=expected):
            await asyncio.sleep(0)
            with tracer.start_as_current_span("llm", attributes=expected):
                await asyncio.sleep(0.001)
        return JSONResponse(session_ids())

    def sync(request: Request) -> JSONResponse:  # runs in the thread pool
        expected = expect(request, request.query_params["tenant"])
        with tracer.start_as_current_span("sync", attributes={"soak.expect": expected}):
            time.sleep(0)
        return JSONResponse(session_ids())

    async def stream(request: Request) -> StreamingResponse:
        expected = {"soak.expect": expect(request, request.query_params["tenant"])}

        async def body() -> Any:
            for i in range(STREAM_CHUNKS):
                await asyncio.sleep(0.002)
                with tracer.start_as_current_span(f"chunk{i}", attributes=expected):
                    yield json.dumps(session_ids()) + "\n"

        return StreamingResponse(body(), media_type="application/x-ndjson")

    async def anything(request: Request) -> JSONResponse:
        await request.body()  # hostile and plain requests: read it all, as apps do
        return JSONResponse(session_ids())

    return Starlette(
        routes=[
            Route("/chat", chat, methods=["POST"]),
            Route("/sync", sync),
            Route("/stream", stream),
            Route("/any", anything, methods=["GET", "POST"]),
        ]
    )


def asgi_probe(ours: Any, bare: Any, stats: Stats) -> Any:
    """Routes ``/ours/...`` and ``/bare/...``, times each request."""

    async def probe(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/__stats":
            body = json.dumps(stats.snapshot()).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"%d" % len(body))]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        variant, _, rest = scope["path"][1:].partition("/")
        scope = {**scope, "path": "/" + rest, "raw_path": b"/" + rest.encode()}
        kind = next((v.decode() for k, v in scope["headers"] if k == b"x-soak-kind"), "normal")
        started = time.perf_counter()
        try:
            await (ours if variant == "ours" else bare)(scope, receive, send)
        finally:
            stats.timed(variant, kind, time.perf_counter() - started)

    return probe


def asgi_stack(stats: Stats) -> Any:
    from otel_genai_session.middleware import GenAISessionMiddleware

    app = starlette_app(make_provider(stats).get_tracer("soak"))
    return asgi_probe(GenAISessionMiddleware(app, **OPTIONS), app, stats)


# -- WSGI ---------------------------------------------------------------------------------


def flask_app(tracer: Any) -> Any:
    from flask import Flask, Response, jsonify, request

    app = Flask("soak")

    def expect(tenant: str) -> str:
        return f"{request.headers['X-Session-ID']}|{request.cookies['uid']}|{tenant}"

    @app.post("/chat")
    def chat() -> Any:
        expected = expect(request.get_json()["tenant"])
        with (
            tracer.start_as_current_span("chat", attributes={"soak.expect": expected}),
            tracer.start_as_current_span("llm", attributes={"soak.expect": expected}),
        ):
            time.sleep(0.001)
        return jsonify(session_ids())

    @app.get("/sync")
    def sync() -> Any:
        with tracer.start_as_current_span(
            "sync", attributes={"soak.expect": expect(request.args["tenant"])}
        ):
            pass
        return jsonify(session_ids())

    @app.get("/stream")
    def stream() -> Any:
        expected = {"soak.expect": expect(request.args["tenant"])}

        def body() -> Any:  # no stream_with_context: the middleware holds the session
            for i in range(STREAM_CHUNKS):
                time.sleep(0.002)
                with tracer.start_as_current_span(f"chunk{i}", attributes=expected):
                    yield json.dumps(session_ids()) + "\n"

        return Response(body(), mimetype="application/x-ndjson")

    @app.route("/any", methods=["GET", "POST"])
    def anything() -> Any:
        request.get_data()
        return jsonify(session_ids())

    return app


class _Timed:
    """A response iterable that records the request's time when it is closed."""

    def __init__(self, result: Any, done: Any) -> None:
        self._result, self._done = result, done

    def __iter__(self) -> Any:
        return iter(self._result)

    def close(self) -> None:
        try:
            getattr(self._result, "close", lambda: None)()
        finally:
            self._done()


def wsgi_probe(ours: Any, bare: Any, stats: Stats) -> Any:
    def probe(environ: Any, start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/__stats":
            body = json.dumps(stats.snapshot()).encode()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
        variant, _, rest = environ["PATH_INFO"][1:].partition("/")
        environ["PATH_INFO"] = "/" + rest
        kind = environ.get("HTTP_X_SOAK_KIND", "normal")
        started = time.perf_counter()
        result = (ours if variant == "ours" else bare)(environ, start_response)
        return _Timed(result, lambda: stats.timed(variant, kind, time.perf_counter() - started))

    return probe


def wsgi_stack(stats: Stats) -> Any:
    from otel_genai_session.middleware import SessionWSGIMiddleware

    app = flask_app(make_provider(stats).get_tracer("soak"))
    return wsgi_probe(SessionWSGIMiddleware(app.wsgi_app, **OPTIONS), app.wsgi_app, stats)


# -- the servers ----------------------------------------------------------------------------


def bound_socket() -> socket.socket:
    # proto IPPROTO_TCP, or asyncio skips TCP_NODELAY (40 ms delayed-ACK stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    return sock


def serve(kind: str, lifetime: float) -> None:
    """Run one server until killed, or until ``lifetime`` seconds have passed."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("otel_genai_session").setLevel(logging.ERROR)  # hostile requests
    threading.Timer(lifetime, lambda: os._exit(3)).start()
    stats = Stats()
    sock = bound_socket()
    if kind == "uvicorn":
        import uvicorn

        config = uvicorn.Config(asgi_stack(stats), http="httptools", lifespan="off",
                                log_level="error", access_log=False, backlog=4096,
                                timeout_keep_alive=30)  # fmt: skip
        uvicorn.Server(config).run(sockets=[sock])
    elif kind == "hypercorn":
        from hypercorn.asyncio import serve as hypercorn_serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"fd://{os.dup(sock.fileno())}"]
        config.accesslog = config.errorlog = None
        config.keep_alive_timeout = 30
        asyncio.run(hypercorn_serve(asgi_stack(stats), config))  # type: ignore[arg-type]
    elif kind == "gunicorn":
        serve_gunicorn(sock, stats)
    else:
        from werkzeug.serving import make_server

        server = make_server("127.0.0.1", 0, wsgi_stack(stats), threaded=True, fd=sock.fileno())
        server.serve_forever()


def serve_gunicorn(sock: socket.socket, stats: Stats) -> None:
    """gunicorn, one gthread worker (the app and its stats live in the worker)."""
    from gunicorn.app.base import BaseApplication

    class Soak(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {
                "bind": f"fd://{sock.fileno()}",
                "workers": 1,
                "worker_class": "gthread",
                "threads": 32,
                "keepalive": 30,
                "loglevel": "error",
                "backlog": 4096,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return wsgi_stack(stats)

    Soak().run()
