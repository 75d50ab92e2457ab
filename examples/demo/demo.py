"""See session, user and tenant ids on the traces of a GenAI chat service.

    python3 tasks.py demo                                # from a fresh clone
    python examples/demo/demo.py                         # in an environment with the [demo] extra
    python examples/demo/demo.py --otlp http://127.0.0.1:4318   # to an OTLP/HTTP collector too

It starts a FastAPI chat service (``GenAISessionMiddleware`` + ``SessionSpanProcessor``
+ ``TelemetryHandler``, a fake model, two tools) under uvicorn on 127.0.0.1, plays
scripted conversations for two tenants and three users against it, concurrently,
then prints every request's trace tree per session and a per-tenant summary,
both computed from the exported spans. It exits 0 when every span carries the
ids of its request, 1 otherwise (or when the OTLP export failed).

No network beyond loopback, no API key: the model is fake, the telemetry real.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import uvicorn
from chat_client import CONVERSATIONS, Conversation, Played, Turn, play_all
from chat_service import create_app
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from trace_report import Style, find_problems, render_sessions, render_summary, tenant_rows

from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.processor import SessionSpanProcessor

STARTUP_TIMEOUT = 15.0  # seconds; the server is usually up in well under one


class CountingExporter(SpanExporter):
    """Wraps the OTLP exporter to tell the user whether the export worked."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.exported = 0
        self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def otlp_exporter(url: str) -> CountingExporter:
    # Imported here so that the default run does not pay for it.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = url.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    return CountingExporter(OTLPSpanExporter(endpoint=endpoint, timeout=5))


class BackgroundServer:
    """uvicorn on 127.0.0.1 with a port the OS picks, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the chat service did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True  # graceful: in-flight requests finish first
        self.thread.join(timeout=STARTUP_TIMEOUT)
        self.socket.close()


def tokens_by_tenant_from_metrics(reader: InMemoryMetricReader) -> tuple[dict[str, int], bool]:
    """Token usage per ``customer.id`` from the metric, and whether any data point
    carries ``session.id`` or ``user.id`` (it must not: unbounded cardinality)."""
    totals: dict[str, int] = defaultdict(int)
    leaked = False
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in getattr(metric.data, "data_points", ()):
                    attributes = point.attributes or {}
                    leaked |= "session.id" in attributes or "user.id" in attributes
                    if metric.name == "gen_ai.client.token.usage":
                        totals[str(attributes.get("customer.id"))] += int(point.sum)
    return dict(totals), leaked


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--otlp",
        metavar="URL",
        help="also export spans over OTLP/HTTP, e.g. http://127.0.0.1:4318 "
        "(/v1/traces is appended); the summary still comes from a local copy",
    )
    parser.add_argument("--no-color", action="store_true", help="plain text output")
    args = parser.parse_args(argv)
    style = Style.for_stdout(args.no_color)
    started = time.perf_counter()

    # -- telemetry: what you would set up once in your own service --------------
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "chat-demo"}))
    tracer_provider.add_span_processor(SessionSpanProcessor())  # ids on every span
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    otlp = otlp_exporter(args.otlp) if args.otlp else None
    if otlp is not None:
        tracer_provider.add_span_processor(BatchSpanProcessor(otlp))
    metric_reader = InMemoryMetricReader()
    handler = TelemetryHandler(
        tracer_provider,
        MeterProvider(metric_readers=[metric_reader]),
        session_metric_attributes=["customer.id"],  # opt-in; the tenant count is bounded
    )

    print(style.bold("otel-genai-session demo"))
    app = create_app(handler, tracer_provider)
    with BackgroundServer(app) as server:
        url = f"http://127.0.0.1:{server.port}"
        tenants = {c.tenant for c in CONVERSATIONS}
        users = {c.user for c in CONVERSATIONS}
        print(
            f"A FastAPI chat service with GenAISessionMiddleware listens on {url} (uvicorn).\n"
            f"Playing {len(CONVERSATIONS)} conversations for {len(tenants)} tenants and "
            f"{len(users)} users, concurrently:\n"
            "acme sends its ids in headers; globex sends the tenant in a header, the user in\n"
            "the JSON body and the session in a cookie (the server generates one when none\n"
            "comes, and returns it in the X-Session-ID response header).\n"
        )
        width = max(len(f"{c.user}@{c.tenant}") for c in CONVERSATIONS)

        def log(conversation: Conversation, session_id: str | None, turn: Turn, reply: str) -> None:
            session = style.cyan(f"{session_id or '?':<14}")
            who = f"{conversation.user}@{conversation.tenant}"
            how = style.dim(" (streamed)") if turn.stream else ""
            print(
                f"  {session} {who:<{width}}  "
                f"> {_clip(turn.message, 34):<34}  < {_clip(reply, 42)}{how}"
            )

        played = asyncio.run(play_all(url, log))
    tracer_provider.force_flush()
    exported = spans.get_finished_spans()

    print("\n" + style.bold("Traces, per session") + style.dim(" (from the exported spans)\n"))
    print(render_sessions(exported, style))
    rows = tenant_rows(exported)
    print(style.bold("Per tenant") + style.dim(" (computed from the same spans)"))
    print(render_summary(rows, style))

    problems = find_problems(exported, _expected(played))
    metric_tokens, leaked = tokens_by_tenant_from_metrics(metric_reader)
    span_tokens = {r.tenant: r.input_tokens + r.output_tokens for r in rows}
    print(
        "\n"
        + style.bold("Metrics")
        + ": gen_ai.client.token.usage by customer.id (an opt-in): "
        + ", ".join(f"{tenant} {count}" for tenant, count in sorted(metric_tokens.items()))
        + " tokens,\nas the spans say. session.id and user.id never go on metrics by default "
        "(unbounded values)."
    )
    if metric_tokens != span_tokens:
        problems.append(f"metric token totals {metric_tokens} differ from spans {span_tokens}")
    if leaked:
        problems.append("a metric data point carries session.id or user.id")

    if otlp is not None:
        tracer_provider.shutdown()  # flushes the batch processor
        if otlp.failed or not otlp.exported:
            problems.append(
                f"OTLP export to {args.otlp} failed for {otlp.failed} spans: is a collector "
                "listening there?"
            )
        else:
            print(f"OTLP: {otlp.exported} spans exported to {args.otlp}.")

    elapsed = time.perf_counter() - started
    print()
    if problems:
        print(style.red(f"{style.fail} {len(problems)} problem(s):"))
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(
        style.green(
            f"{style.ok} {len(exported)} spans in {sum(p.requests for p in played)} "
            "requests; every span carries the session.id, user.id and customer.id "
            "of its request."
        )
    )
    print(style.dim(f"Done in {elapsed:.1f} s. Your own service: see README.md, 'Quick start'."))
    return 0


def _expected(played: Sequence[Played]) -> set[tuple[str, str, str]]:
    return {(p.session_id, p.user, p.tenant) for p in played}


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # piped into `head` or similar: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
