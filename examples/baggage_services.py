"""Two services: A's request ids reach B's spans in the ``baggage`` header.

Service A (FastAPI) has our middleware outermost, with ``propagate_baggage=True``,
and OpenTelemetry's ASGI middleware inside it (which attaches a freshly
extracted Context for each request). A calls B through an
OpenTelemetry-instrumented httpx client; B reads the ids from ``baggage`` with
``baggage_mapping``. Both run under uvicorn on 127.0.0.1.

    python examples/baggage_services.py
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import get_session_context, session_context
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.processor import SessionSpanProcessor

TRUSTED_BAGGAGE = {"session.id": "session_id", "user.id": "user_id", "customer.id": "customer_id"}


def service_b(provider: TracerProvider) -> Any:
    b = FastAPI()

    @b.get("/orders")
    async def orders(request: Request) -> dict[str, Any]:
        with provider.get_tracer("b").start_as_current_span("b.orders"):
            return {"baggage": request.headers.get("baggage")}

    return GenAISessionMiddleware(b, baggage_mapping=TRUSTED_BAGGAGE, header_mapping={})


def service_a(provider: TracerProvider, b_url: str) -> Any:
    a = FastAPI()

    async def call_b(client: httpx.AsyncClient) -> str:
        return str((await client.get(f"{b_url}/orders")).json()["baggage"])

    @a.get("/chat")
    async def chat() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            HTTPXClientInstrumentor().instrument_client(client, tracer_provider=provider)
            first = await call_b(client)
            with session_context(session_id="conv-1-retry"):  # nested: what goes out changes
                nested = await call_b(client)
            return {"first": first, "nested": nested, "user": get_session_context().user_id}

    inner = OpenTelemetryMiddleware(a, tracer_provider=provider)
    return GenAISessionMiddleware(inner, propagate_baggage=True)  # ours outermost


@contextmanager
def serving(app: Any) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def main() -> int:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    headers = {
        "X-Session-ID": "conv-1",
        "X-User-ID": "ada",
        "X-Tenant-ID": "acme",
        "baggage": "session.id=forged-by-client,region=eu",  # a client's own baggage
    }
    with serving(service_b(provider)) as b_url, serving(service_a(provider, b_url)) as a_url:
        seen = httpx.get(f"{a_url}/chat", headers=headers, timeout=10)
    answer = seen.json()
    print(f"baggage B received:           {answer['first']}")
    print(f"inside a nested session:      {answer['nested']}")
    ok = "forged" not in answer["first"] and answer["first"].startswith(
        "session.id=conv-1,user.id=ada,customer.id=acme"
    )
    for span in exporter.get_finished_spans():
        if span.name == "b.orders":
            attributes = span.attributes or {}
            ids = [attributes.get(key) for key in ("session.id", "user.id", "customer.id")]
            print(f"B's span b.orders carries:    {' '.join(map(str, ids))}")
            ok = ok and ids[1:] == ["ada", "acme"]
    print("A's request ids reached B's spans." if ok else "UNEXPECTED: the ids did not arrive")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
