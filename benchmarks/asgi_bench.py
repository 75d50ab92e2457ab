"""ASGI section: the same trivial Starlette and FastAPI routes behind each variant.

Variants: the bare app; an empty pure-ASGI layer; the hand-written floor (3
headers -> one contextvar set/reset; for bodies, one buffer + parse + replay);
ours with the default headers and with body fields; asgi-correlation-id at
its defaults (the request carries no X-Request-ID, as most do not, so it
generates one); starlette-context (RawContextMiddleware, one plain header plugin per id);
OpenTelemetry's ASGI middleware with an SDK tracer provider (and, in the full
run, the no-op one). Scenarios: GET, a 50-chunk StreamingResponse, JSON POSTs
of 1 KiB, 100 KiB and 1 MiB with the ids only in the body, and 1 MiB with the
ids in headers too (body fields configured, nothing left to parse).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from _asgi_driver import EXPECTED_IDS, ASGIRequest, asgi_block, drive, get, post_json
from _harness import Result, Settings, measure
from _references import BodyFloor, EmptyLayer, HeaderFloor, naive_json_middleware

__all__ = ["BODY_MAPPING", "chat_body", "run"]

ASGIApp = Callable[..., Any]
Factory = Callable[[ASGIApp], ASGIApp]
BODY_MAPPING = {
    "metadata.session_id": "session_id",
    "metadata.user_id": "user_id",
    "metadata.customer_id": "customer_id",
}
STREAM_CHUNKS = 50
_CHUNK = b"data: a token of a streamed completion\n\n"
_SIZES = {"POST 1 KiB": 1024, "POST 100 KiB": 100 * 1024, "POST 1 MiB": 1024 * 1024}
NO_PARSE = "POST 1 MiB, ids in headers"


def chat_body(size: int) -> bytes:
    """A chat-completion-like JSON document of exactly ``size`` bytes, ids in metadata
    (a body of exactly 1 MiB is still within the default ``max_body_size``)."""
    messages: list[dict[str, Any]] = []
    document: dict[str, Any] = {
        "model": "gpt-4o",
        "metadata": dict(zip(("session_id", "user_id", "customer_id"), EXPECTED_IDS, strict=True)),
        "temperature": 0.7,
        "messages": messages,
    }
    text = "Summarise the quarterly report for the board, highlighting risks. " * 3
    message = {"role": "user", "content": text, "tokens": 57}
    step = len(json.dumps(message)) + 2
    while len(json.dumps(document)) + 2 * step < size:
        messages.extend([message] * max(1, (size - len(json.dumps(document))) // step - 2))
    messages.append({"role": "assistant", "content": ""})
    messages[-1]["content"] = "x" * (size - len(json.dumps(document)))
    encoded = json.dumps(document).encode()
    assert len(encoded) == size, (len(encoded), size)
    return encoded


# -- the apps ------------------------------------------------------------------------


async def _chunks(count: int) -> Any:
    for _ in range(count):
        yield _CHUNK


def starlette_app() -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    async def hello(request: Any) -> Any:
        return PlainTextResponse("Hello, world!")

    async def stream(request: Any) -> Any:
        return StreamingResponse(_chunks(STREAM_CHUNKS), media_type="text/event-stream")

    async def chat(request: Any) -> Any:
        return PlainTextResponse(str(len(await request.body())))

    return Starlette(
        routes=[
            Route("/", hello),
            Route("/stream", stream),
            Route("/chat", chat, methods=["POST"]),
        ]
    )


def fastapi_app() -> ASGIApp:
    from fastapi import FastAPI, Request
    from fastapi.responses import StreamingResponse

    app = FastAPI()

    # Annotations set by hand: with ``from __future__ import annotations`` they
    # would be strings naming this function's locals, which FastAPI cannot resolve.
    async def hello():  # type: ignore[no-untyped-def]
        return {"message": "Hello, world!"}

    async def stream():  # type: ignore[no-untyped-def]
        return StreamingResponse(_chunks(STREAM_CHUNKS), media_type="text/event-stream")

    async def chat(request):  # type: ignore[no-untyped-def]
        return {"size": len(await request.body())}

    chat.__annotations__ = {"request": Request}
    app.get("/")(hello)
    app.get("/stream")(stream)
    app.post("/chat")(chat)
    return app


# -- the variants --------------------------------------------------------------------


def _ours(**options: Any) -> Factory:
    from otel_genai_session.middleware import GenAISessionMiddleware

    return lambda app: GenAISessionMiddleware(app, **options)


def _correlation_id() -> Factory:
    from asgi_correlation_id import CorrelationIdMiddleware

    return lambda app: CorrelationIdMiddleware(app)


def _starlette_context() -> Factory:
    from starlette_context.middleware import RawContextMiddleware
    from starlette_context.plugins import Plugin

    plugins = [type(f"{key}Plugin", (Plugin,), {"key": key})() for key in _HEADER_KEYS]
    return lambda app: RawContextMiddleware(app, plugins=plugins)


_HEADER_KEYS = ("X-Session-ID", "X-User-ID", "X-Tenant-ID")


def _otel(sdk: bool) -> Factory:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    if sdk:
        from opentelemetry.sdk.trace import TracerProvider

        provider: Any = TracerProvider()
    else:
        provider = NoOpTracerProvider()
    return lambda app: OpenTelemetryMiddleware(
        app, tracer_provider=provider, meter_provider=NoOpMeterProvider()
    )


def _variants(kind: str, full: bool, notes: list[str]) -> list[tuple[str, Callable[[], Factory]]]:
    """(name, factory maker) per variant; makers that fail to import are skipped."""
    candidates: list[tuple[str, Callable[[], Factory]]] = [("empty-layer", lambda: EmptyLayer)]
    if kind == "body":
        candidates += [
            ("floor (parse+replay)", lambda: BodyFloor),
            ("ours (headers)", _ours),
            ("ours (body fields)", lambda: _ours(body_mapping=BODY_MAPPING)),
            ("naive request.json()", lambda: naive_json_middleware),
        ]
    elif kind == "no-parse":
        candidates = [
            ("floor (3 headers)", lambda: HeaderFloor),
            ("ours (body fields)", lambda: _ours(body_mapping=BODY_MAPPING)),
        ]
    else:
        candidates += [
            ("floor (3 headers)", lambda: HeaderFloor),
            ("ours (headers)", _ours),
            ("ours (body fields)", lambda: _ours(body_mapping=BODY_MAPPING)),
            ("asgi-correlation-id", _correlation_id),
            ("starlette-context", _starlette_context),
            ("otel-asgi (sdk)", lambda: _otel(True)),
        ]
        if full:
            candidates.append(("otel-asgi (no-op)", lambda: _otel(False)))
    available = []
    for name, maker in candidates:
        try:
            maker()
        except ImportError as error:
            notes.append(f"asgi: {name} skipped ({error.name} not installed)")
            continue
        available.append((name, maker))
    return available


def _check(loop: asyncio.AbstractEventLoop, app: ASGIApp, request: ASGIRequest) -> None:
    """One request must succeed with a complete response before it is timed."""
    sent: list[Any] = []
    loop.run_until_complete(drive(app, request, request.raw_headers, sent))
    start = next(m for m in sent if m["type"] == "http.response.start")
    if start["status"] != 200 or sent[-1].get("more_body", False):
        raise RuntimeError(f"benchmark request failed: {start['status']} {request.scope['path']}")


def _verify_ours(loop: asyncio.AbstractEventLoop, request: ASGIRequest, body: bool) -> None:
    """Our middleware must really find the ids (a pass-through would time nothing)."""
    from otel_genai_session import get_session_context

    seen: list[Any] = []

    async def probe(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body", False):
            pass
        seen.append(get_session_context())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = _ours(body_mapping=BODY_MAPPING)(probe) if body else _ours()(probe)
    loop.run_until_complete(drive(app, request, request.raw_headers))
    found = (seen[0].session_id, seen[0].user_id, seen[0].customer_id)
    if found != EXPECTED_IDS:
        raise RuntimeError(f"the middleware did not find the ids: {found}")


def _scenarios(full: bool) -> list[tuple[str, str, ASGIRequest]]:
    scenarios = [("GET", "headers", get("/")), ("stream-50", "headers", get("/stream"))]
    sizes = _SIZES if full else {"POST 1 MiB": _SIZES["POST 1 MiB"]}
    scenarios += [
        (name, "body", post_json("/chat", chat_body(size))) for name, size in sizes.items()
    ]
    big = chat_body(_SIZES["POST 1 MiB"])
    scenarios.append((NO_PARSE, "no-parse", post_json("/chat", big, ids_in_headers=True)))
    return scenarios


def run(settings: Settings, notes: list[str], only_body: bool = False) -> list[Result]:
    loop = asyncio.new_event_loop()
    results: list[Result] = []
    targets: list[tuple[str, Callable[[], ASGIApp]]] = [("starlette", starlette_app)]
    try:
        targets.append(("fastapi", _import_fastapi()))
    except ImportError:
        notes.append("asgi: fastapi skipped (not installed)")
    try:
        for target, make_app in targets:
            for scenario, kind, request in _scenarios(settings.full_matrix):
                if only_body and kind != "body":
                    continue
                if target == "fastapi" and not settings.full_matrix and scenario != "GET":
                    continue
                if kind != "no-parse":
                    _verify_ours(loop, request, body=kind == "body")
                variants = [("bare", make_app())]
                for name, maker in _variants(kind, settings.full_matrix, notes):
                    variants.append((name, maker()(make_app())))
                for _, app in variants:
                    _check(loop, app, request)
                blocks = [(name, asgi_block(loop, app, request)) for name, app in variants]
                rows = measure("asgi", target, scenario, blocks, settings)
                for row in rows:
                    if request.size:
                        row.extra["body_bytes"] = request.size
                results += rows
    finally:
        loop.close()
    return results


def _import_fastapi() -> Callable[[], ASGIApp]:
    import fastapi  # noqa: F401

    return fastapi_app
