"""Soak: many concurrent requests with distinct ids against real servers on loopback.

For each server (uvicorn with a Starlette app under GenAISessionMiddleware, and
werkzeug's threaded server with a Flask app under SessionWSGIMiddleware), this
script starts the server in a subprocess on 127.0.0.1 (OS-assigned port), warms
it up, then drives it for a fixed time over ``--concurrency`` keep-alive
connections, one request in flight on each. Every request carries its own ids,
from three sources at once: session in the ``X-Session-ID`` header, user in
the ``uid`` cookie, tenant in the JSON body (POST /chat) or the query string
(GET /sync, run in a thread pool on ASGI). Every fifth request is streamed
(GET /stream: five chunks, each produced with its own span after a pause).

Cross-talk is checked twice: the server exports every span to an exporter
that compares the span's session.id/user.id/customer.id with the ids the app
parsed from the request itself (span attribute ``soak.expect``), and the client
compares the ids echoed in every response and every streamed chunk with the
ones it sent. The server process reports its VmRSS (``/proc/self/status``,
after a gc) at the start and end of the measured window.

Bounded: loopback only, fixed duration, every wait has a timeout, and each
server process exits by itself after ``warmup + duration + 120`` s, whatever happens.

Usage::

    python scripts/soak.py --duration 60 --concurrency 1000           # both servers
    python scripts/soak.py --duration 600 --concurrency 2000 --servers asgi

Exit status 0 when there was no cross-talk and no failed request, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STREAM_CHUNKS = 5


def rss_kb() -> int:
    gc.collect()
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


# -- the server side (runs in the subprocess) -------------------------------------------


class Stats:
    """Request and span counters plus the cross-talk exporter's findings."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.spans = 0
        self.crosstalk = 0
        self.examples: list[str] = []

    def request(self) -> None:
        with self.lock:
            self.requests += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            result = {
                "requests": self.requests,
                "spans": self.spans,
                "crosstalk": self.crosstalk,
                "examples": list(self.examples),
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


OPTIONS: dict[str, Any] = {
    "header_mapping": {"X-Session-ID": "session_id"},
    "cookie_mapping": {"uid": "user_id"},
    "body_mapping": {"tenant": "customer_id"},
    "query_mapping": {"tenant": "customer_id"},
}


def session_ids() -> list[str | None]:
    from otel_genai_session import get_session_context

    session = get_session_context()
    return [session.session_id, session.user_id, session.customer_id]


def asgi_app(stats: Stats) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from otel_genai_session.middleware import GenAISessionMiddleware

    tracer = make_provider(stats).get_tracer("soak")

    def expect(request: Request, tenant: str) -> str:
        return f"{request.headers['x-session-id']}|{request.cookies['uid']}|{tenant}"

    async def chat(request: Request) -> JSONResponse:
        stats.request()
        tenant = (await request.json())["tenant"]
        with tracer.start_as_current_span(
            "chat", attributes={"soak.expect": expect(request, tenant)}
        ):
            await asyncio.sleep(0)
            with tracer.start_as_current_span(
                "llm", attributes={"soak.expect": expect(request, tenant)}
            ):
                await asyncio.sleep(0.001)
        return JSONResponse(session_ids())

    def sync(request: Request) -> JSONResponse:  # runs in the thread pool
        stats.request()
        with tracer.start_as_current_span(
            "sync", attributes={"soak.expect": expect(request, request.query_params["tenant"])}
        ):
            time.sleep(0)
        return JSONResponse(session_ids())

    async def stream(request: Request) -> StreamingResponse:
        stats.request()
        expected = expect(request, request.query_params["tenant"])

        async def body() -> Any:
            for i in range(STREAM_CHUNKS):
                await asyncio.sleep(0.002)
                with tracer.start_as_current_span(
                    f"chunk{i}", attributes={"soak.expect": expected}
                ):
                    yield json.dumps(session_ids()) + "\n"

        return StreamingResponse(body(), media_type="application/x-ndjson")

    async def stats_endpoint(request: Request) -> Response:
        return JSONResponse(stats.snapshot())

    app = Starlette(
        routes=[
            Route("/chat", chat, methods=["POST"]),
            Route("/sync", sync),
            Route("/stream", stream),
            Route("/__stats", stats_endpoint),
        ]
    )
    return GenAISessionMiddleware(app, **OPTIONS)


def wsgi_app(stats: Stats) -> Any:
    from flask import Flask, Response, jsonify, request

    from otel_genai_session.middleware import SessionWSGIMiddleware

    tracer = make_provider(stats).get_tracer("soak")
    app = Flask("soak")

    def expect(tenant: str) -> str:
        return f"{request.headers['X-Session-ID']}|{request.cookies['uid']}|{tenant}"

    @app.post("/chat")
    def chat() -> Any:
        stats.request()
        expected = expect(request.get_json()["tenant"])
        with (
            tracer.start_as_current_span("chat", attributes={"soak.expect": expected}),
            tracer.start_as_current_span("llm", attributes={"soak.expect": expected}),
        ):
            time.sleep(0.001)
        return jsonify(session_ids())

    @app.get("/sync")
    def sync() -> Any:
        stats.request()
        with tracer.start_as_current_span(
            "sync", attributes={"soak.expect": expect(request.args["tenant"])}
        ):
            pass
        return jsonify(session_ids())

    @app.get("/stream")
    def stream() -> Any:
        stats.request()
        expected = expect(request.args["tenant"])

        def body() -> Any:  # no stream_with_context: the middleware holds the session
            for i in range(STREAM_CHUNKS):
                time.sleep(0.002)
                with tracer.start_as_current_span(
                    f"chunk{i}", attributes={"soak.expect": expected}
                ):
                    yield json.dumps(session_ids()) + "\n"

        return Response(body(), mimetype="application/x-ndjson")

    @app.get("/__stats")
    def stats_endpoint() -> Any:
        return jsonify(stats.snapshot())

    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app, **OPTIONS)  # type: ignore[method-assign]
    return app


def serve(kind: str, lifetime: float) -> None:
    """Run one server until killed, or until ``lifetime`` seconds have passed."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    threading.Timer(lifetime, lambda: os._exit(3)).start()
    stats = Stats()
    if kind == "asgi":
        import uvicorn

        # proto IPPROTO_TCP, or asyncio skips TCP_NODELAY (40 ms delayed-ACK stalls)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        config = uvicorn.Config(
            asgi_app(stats),
            lifespan="off",
            log_level="error",
            access_log=False,
            backlog=4096,
            timeout_keep_alive=30,
        )
        uvicorn.Server(config).run(sockets=[sock])
    else:
        from werkzeug.serving import make_server

        server = make_server("127.0.0.1", 0, wsgi_app(stats), threaded=True)
        server.socket.listen(4096)
        print(f"PORT {server.server_port}", flush=True)
        server.serve_forever()


# -- the client side ----------------------------------------------------------------------


class Load:
    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.crosstalk = 0
        self.streamed = 0
        self.examples: list[str] = []

    def mismatch(self, detail: str) -> None:
        self.crosstalk += 1
        if len(self.examples) < 5:
            self.examples.append(detail)


class Connection:
    """A minimal HTTP/1.1 keep-alive client on one loopback connection.

    httpx's connection pool costs grow with the pool size, so with a thousand
    connections the client, not the server, was the bottleneck; raw asyncio
    streams keep the client cheap. Handles Content-Length and chunked bodies.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        status = int((await self.reader.readline()).split()[1])
        length, chunked, close = 0, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = value == "close"
        if chunked:
            parts = []
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readexactly(2)
            data = b"".join(parts)
        else:
            data = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, data


async def worker(port: int, name: str, deadline: float, load: Load) -> None:
    connection = Connection(port)
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            ids = [f"s-{name}-{n}", f"u-{name}-{n}", f"t-{name}-{n}"]
            headers = {"X-Session-ID": ids[0], "Cookie": f"uid={ids[1]}"}
            try:
                if n % 5 == 0:
                    kind, call = (
                        "stream",
                        connection.request("GET", f"/stream?tenant={ids[2]}", headers),
                    )
                elif n % 2 == 0:
                    kind, call = (
                        "sync",
                        connection.request("GET", f"/sync?tenant={ids[2]}", headers),
                    )
                else:
                    body = json.dumps({"tenant": ids[2], "prompt": "x" * (n % 2048)}).encode()
                    kind, call = "chat", connection.request("POST", "/chat", headers, body)
                status, data = await asyncio.wait_for(call, 30)
            except Exception as error:  # counted, never hidden
                load.failed += 1
                if len(load.examples) < 5:
                    load.examples.append(f"request error: {error!r}")
                await connection.close()
                continue
            if status != 200:
                load.failed += 1
                continue
            if kind == "stream":
                lines = [json.loads(line) for line in data.splitlines() if line]
                if len(lines) != STREAM_CHUNKS:
                    load.failed += 1
                    continue
                load.streamed += 1
            else:
                lines = [json.loads(data)]
            for line in lines:
                if line != ids:
                    load.mismatch(f"{kind}: sent {ids} got {line}")
            load.ok += 1
    finally:
        await connection.close()


async def drive(port: int, concurrency: int, seconds: float) -> Load:
    """``concurrency`` connections, each with one request in flight at a time."""
    load = Load()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(worker(port, f"w{i}", deadline, load) for i in range(concurrency)))
    return load


def get_stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__stats", timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def run_server(
    kind: str, duration: float, concurrency: int, warmup_seconds: float
) -> dict[str, Any]:
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            kind,
            "--lifetime",
            str(duration + warmup_seconds + 120),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the child prints its port first, or dies
        if not line.startswith("PORT "):
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        port = int(line.split()[1])
        for _ in range(100):
            try:
                get_stats(port)
                break
            except Exception:
                time.sleep(0.1)
        warmup = asyncio.run(drive(port, concurrency, warmup_seconds)).ok
        start = get_stats(port)
        load = asyncio.run(drive(port, concurrency, duration))
        end = get_stats(port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    served = end["requests"] - start["requests"]
    growth = (end["rss_kb"] - start["rss_kb"]) / served * 100_000 if served else 0.0
    return {
        "server": "uvicorn + GenAISessionMiddleware"
        if kind == "asgi"
        else "werkzeug threaded + SessionWSGIMiddleware",
        "duration_s": duration,
        "concurrency": concurrency,
        "warmup_requests_ok": warmup,
        "requests_served": served,
        "requests_ok": load.ok,
        "requests_failed": load.failed,
        "streamed_responses": load.streamed,
        "requests_per_s": round(served / duration, 1),
        "spans_checked": end["spans"] - start["spans"],
        "crosstalk_spans": end["crosstalk"],
        "crosstalk_responses": load.crosstalk,
        "rss_start_kb": start["rss_kb"],
        "rss_end_kb": end["rss_kb"],
        "rss_growth_kb_per_100k_requests": round(growth, 1),
        "examples": end["examples"] + load.examples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds per server")
    parser.add_argument("--concurrency", type=int, default=1000, help="connections")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of warm-up load")
    parser.add_argument("--servers", default="asgi,wsgi", help="asgi, wsgi or both")
    parser.add_argument("--report", type=Path, help="also write the JSON report here")
    parser.add_argument("--serve", choices=["asgi", "wsgi"], help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=300, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.lifetime)
        return 0

    results = []
    for kind in [k.strip() for k in args.servers.split(",") if k.strip()]:
        print(f"soaking {kind} for {args.duration:.0f} s at concurrency {args.concurrency}...")
        result = run_server(kind, args.duration, args.concurrency, args.warmup)
        print(json.dumps(result, indent=2), flush=True)
        results.append(result)
    if args.report:
        args.report.write_text(json.dumps(results, indent=2))
    bad = any(
        r["crosstalk_spans"] or r["crosstalk_responses"] or r["requests_failed"] for r in results
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
