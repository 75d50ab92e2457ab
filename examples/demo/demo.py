"""See session, user and tenant ids on the traces of a GenAI chat service.

    python3 tasks.py demo                                # from a fresh clone
    python examples/demo/demo.py                         # in an environment with the [demo] extra
    python examples/demo/demo.py --otlp http://127.0.0.1:4318   # to an OTLP/HTTP receiver too
    python examples/demo/demo.py --json report.json      # and a per-session report

It starts a local OpenAI-compatible model server and a FastAPI chat service
(``GenAISessionMiddleware``, ``SessionSpanProcessor``, ``SessionLogRecordProcessor``;
the model called through the ``openai`` SDK, which the official
``opentelemetry-instrumentation-genai-openai`` traces; the agent and its two tools
through our ``TelemetryHandler``) under uvicorn on 127.0.0.1. It plays scripted
conversations for two tenants and three users against it, concurrently, then
prints every request's trace tree per session and a per-tenant summary, both
computed from the exported spans. It exits 0 when every span and GenAI event
carries the ids of its request, 1 otherwise (or when an OTLP export failed).

No network beyond loopback, no API key: the model is fake, the telemetry real.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from chat_client import CONVERSATIONS, Conversation, Log, Played, Turn, play_all
from chat_service import connect_model, create_app
from model_server import ModelServer
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from servers import BackgroundServer
from session_report import EVENT, find_event_problems, report_json, session_rows
from style import Style
from telemetry import Telemetry, set_up
from trace_report import find_problems, render_sessions, render_summary, tenant_rows

from otel_genai_session.handler import TelemetryHandler

DEFAULT_PROJECT = "otel-genai-session-demo"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--otlp",
        metavar="URL",
        help="also export spans over OTLP/HTTP, e.g. http://127.0.0.1:4318 "
        "(/v1/traces is appended); the summary still comes from a local copy",
    )
    parser.add_argument(
        "--otlp-logs",
        metavar="URL",
        help="also export the GenAI events (log records) over OTLP/HTTP (/v1/logs is appended)",
    )
    parser.add_argument(
        "--project",
        metavar="NAME",
        default=DEFAULT_PROJECT,
        help="the openinference.project.name resource attribute: the project Arize "
        f"Phoenix files the traces under (default: {DEFAULT_PROJECT})",
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="write a per-session report (ids, traces, token totals, turns) as JSON",
    )
    parser.add_argument("--no-color", action="store_true", help="plain text output")
    return parser.parse_args(argv)


def tokens_from_metrics(reader: InMemoryMetricReader) -> tuple[int, bool]:
    """All ``gen_ai.client.token.usage``, and whether any data point carries
    ``session.id`` or ``user.id`` (it must not: unbounded cardinality)."""
    total, leaked = 0, False
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in getattr(metric.data, "data_points", ()):
                    attributes = point.attributes or {}
                    leaked |= "session.id" in attributes or "user.id" in attributes
                    if metric.name == "gen_ai.client.token.usage":
                        total += int(point.sum)
    return total, leaked


def introduce(service_url: str, model_url: str) -> None:
    tenants = {c.tenant for c in CONVERSATIONS}
    users = {c.user for c in CONVERSATIONS}
    print(
        f"A FastAPI chat service with GenAISessionMiddleware listens on {service_url}.\n"
        f"Its model, an OpenAI-compatible fake on {model_url}, is called through the\n"
        "openai SDK and traced by opentelemetry-instrumentation-genai-openai.\n"
        f"Playing {len(CONVERSATIONS)} conversations for {len(tenants)} tenants and "
        f"{len(users)} users, concurrently:\n"
        "acme sends its ids in headers; globex sends the tenant in a header, the user in\n"
        "the JSON body and the session in a cookie (the server generates one when none\n"
        "comes, and returns it in the X-Session-ID response header).\n"
    )


def turn_printer(style: Style) -> Log:
    """One line per turn, as the replies come in."""
    width = max(len(f"{c.user}@{c.tenant}") for c in CONVERSATIONS)

    def log(conversation: Conversation, session_id: str | None, turn: Turn, reply: str) -> None:
        session = style.cyan(f"{session_id or '?':<14}")
        who = f"{conversation.user}@{conversation.tenant}"
        how = style.dim(" (streamed)") if turn.stream else ""
        asked, answered = _clip(turn.message, 34), _clip(reply, 42)
        print(f"  {session} {who:<{width}}  > {asked:<34}  < {answered}{how}")

    return log


def play(telemetry: Telemetry, style: Style) -> list[Played]:
    """Both servers up, every conversation played, both servers down."""
    handler = TelemetryHandler(telemetry.tracer_provider, telemetry.meter_provider)
    with BackgroundServer(ModelServer().app) as model:
        app = create_app(handler, telemetry.tracer_provider, connect_model(model.url))
        with BackgroundServer(app) as service:
            introduce(service.url, model.url)
            return asyncio.run(play_all(service.url, turn_printer(style)))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    style = Style.for_stdout(args.no_color)
    started = time.perf_counter()
    telemetry = set_up(args.project, args.otlp, args.otlp_logs)

    print(style.bold("otel-genai-session demo"))
    played = play(telemetry, style)
    telemetry.flush()
    spans = telemetry.spans.get_finished_spans()
    events = [r for r in telemetry.logs.get_finished_logs() if r.log_record.event_name == EVENT]

    print("\n" + style.bold("Traces, per session") + style.dim(" (from the exported spans)"))
    print(
        style.dim(
            "chat: the official OpenAI instrumentation's spans; invoke_workflow, invoke_agent,\n"
            "execute_tool: our TelemetryHandler's; POST /chat: the server span; SELECT orders:\n"
            "a plain span. SessionSpanProcessor puts the ids on all of them.\n"
        )
    )
    print(render_sessions(spans, style))
    rows = tenant_rows(spans)
    print(style.bold("Per tenant") + style.dim(" (computed from the same spans)"))
    print(render_summary(rows, style))

    problems = find_problems(spans, {(p.session_id, p.user, p.tenant) for p in played})
    problems += find_event_problems(events, spans)
    print(
        f"\n{style.bold('Events')}: {len(events)} {EVENT} events from the official\n"
        "instrumentation (content capture on), each with its request's three ids\n"
        "(SessionLogRecordProcessor)."
    )
    if not events:
        problems.append(f"no {EVENT} event was emitted")
    metric_tokens, leaked = tokens_from_metrics(telemetry.metrics)
    span_tokens = sum(r.input_tokens + r.output_tokens for r in rows)
    print(
        f"{style.bold('Metrics')}: gen_ai.client.token.usage counts {metric_tokens} tokens, as "
        "the spans say.\nNo data point carries session.id or user.id (unbounded values)."
    )
    if metric_tokens != span_tokens:
        problems.append(f"the metrics count {metric_tokens} tokens, the spans {span_tokens}")
    if leaked:
        problems.append("a metric data point carries session.id or user.id")

    telemetry.shutdown()  # flushes the OTLP batches
    for counted in telemetry.otlp:
        if counted.failed or not counted.exported:
            problems.append(
                f"OTLP export to {counted.url} failed for {counted.failed} {counted.what}: "
                "is a receiver listening there?"
            )
        else:
            print(f"OTLP: {counted.exported} {counted.what} exported to {counted.url}.")

    if args.json:
        generated = [p.session_id for p in played if p.generated]
        report = report_json(
            session_rows(spans, generated),
            project=args.project,
            spans=len(spans),
            events=len(events),
            ok=not problems,
        )
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"Per-session report written to {args.json}.")

    elapsed = time.perf_counter() - started
    print()
    if problems:
        print(style.red(f"{style.fail} {len(problems)} problem(s):"))
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(
        style.green(
            f"{style.ok} {len(spans)} spans and {len(events)} events in "
            f"{sum(p.requests for p in played)} requests; every one carries the session.id, "
            "user.id and customer.id of its request."
        )
    )
    print(style.dim(f"Done in {elapsed:.1f} s. Your own service: see README.md, 'FastAPI'."))
    return 0


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # piped into `head` or similar: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
