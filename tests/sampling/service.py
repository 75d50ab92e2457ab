"""A small service for the sampling tests, run as its own process.

    python service.py --fd N --spans PATH [--ratio R] [--downstream URL]

Serves ``GET /turn`` on the listening socket it inherits as file descriptor N
(the test binds it, so no port is ever released and re-taken). The session comes
from the ``X-Session-ID``/``X-Tenant-ID`` headers through ``GenAISessionMiddleware``,
which wraps everything, so the server span starts inside the session. With
``--downstream``, each turn calls that service's ``/turn`` with the same session
headers, and with the W3C trace context too when the query has ``propagate=1``.

Sampling: ``--ratio R`` builds a ``ParentBasedSessionRatioSampler(R)``, and a
Starlette app with OpenTelemetry's ASGI middleware; without it, the process must
run under ``opentelemetry-instrument``, which configures the sampler from
``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG``, and the app is FastAPI,
which its instrumentation instruments.
Every span is written to PATH as one JSON line when it ends.
"""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Sequence
from typing import Any

import httpx
import uvicorn
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_genai_session import get_session_context
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.sampling import ParentBasedSessionRatioSampler


class JsonLinesExporter(SpanExporter):
    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at shutdown

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            context = span.get_span_context()
            assert context is not None
            record = {
                "name": span.name,
                "kind": span.kind.name,
                "trace_id": f"{context.trace_id:032x}",
                "parent_id": None if span.parent is None else f"{span.parent.span_id:016x}",
                "tracestate": context.trace_state.to_header(),
                "attributes": dict(span.attributes or {}),
            }
            self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()


def build(provider: TracerProvider, downstream: str | None, instrument: bool) -> Any:
    tracer = provider.get_tracer("sampling-test-service")
    client = httpx.AsyncClient(timeout=20, trust_env=False)

    async def turn(request: Request) -> JSONResponse:
        session = get_session_context()
        with tracer.start_as_current_span("handle turn") as span:
            if downstream is not None:
                headers = {"X-Session-ID": session.session_id or ""}
                if session.customer_id is not None:
                    headers["X-Tenant-ID"] = session.customer_id
                if request.query_params.get("propagate") == "1":
                    propagate.inject(headers)
                reply = await client.get(f"{downstream}/turn", headers=headers)
                reply.raise_for_status()
            return JSONResponse({"session": session.session_id, "sampled": span.is_recording()})

    routes = [Route("/turn", turn)]
    if not instrument:  # opentelemetry-instrument instruments FastAPI
        from fastapi import FastAPI

        return GenAISessionMiddleware(FastAPI(routes=routes))
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    app = OpenTelemetryMiddleware(Starlette(routes=routes), tracer_provider=provider)
    return GenAISessionMiddleware(app)  # outermost: the server span starts in the session


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--spans", required=True)
    parser.add_argument("--ratio", type=float)
    parser.add_argument("--downstream")
    args = parser.parse_args(argv)
    if args.ratio is None:  # under opentelemetry-instrument: its provider and sampler
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            raise SystemExit(f"expected opentelemetry-instrument's SDK provider, got {provider}")
    else:
        provider = TracerProvider(sampler=ParentBasedSessionRatioSampler(args.ratio))
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(args.spans)))
    print(f"sampler: {provider.sampler.get_description()}", flush=True)
    app = build(provider, args.downstream, instrument=args.ratio is not None)
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=args.fd)])


if __name__ == "__main__":
    main()
