"""The demo end to end: the README's first command, minus the virtualenv set-up.

``python examples/demo/demo.py`` starts a local OpenAI-compatible model server
and the chat service under uvicorn on 127.0.0.1, plays the conversations over
real HTTP (the model called through the ``openai`` SDK, traced by the official
instrumentation) and prints trees and a summary from the exported spans. These
tests read that output as a person would, check it against the conversation
script, and check the exit status both ways: 0 when every span and event carries
its ids, 1 when they do not (a session processor left out) or when an OTLP
export fails. The ``--json`` report and the OTLP export are what a backend
(Arize Phoenix) gets; they are checked against the printed report.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.examples.conftest import RunPython

DEMO = "examples/demo/demo.py"
SPAN_LINE = re.compile(
    r"^  (?P<name>.+?)\s+(?P<ms>\d+\.\d) ms  (?P<session>\S+)\s+(?P<user>\S+)\s+(?P<tenant>\S+)"
    r"(?P<detail>.*)$"
)
SESSION_HEADER = re.compile(
    r"^Session (?P<session>\S+) · user (?P<user>\S+) · tenant (?P<tenant>\S+)"
    r" · (?P<n>\d+) requests?$"
)
SUMMARY_ROW = re.compile(r"^  (acme|globex)((?:\s+\d+){8})$")
SUMMARY_COLUMNS = (
    "sessions", "users", "requests", "model calls", "tokens in", "tokens out", "tool calls",
    "errors",
)  # fmt: skip
DONE = re.compile(r"(\d+) spans and (\d+) events in 9 requests; every one carries")
IDS = ("session.id", "user.id", "customer.id")
EVENT = "gen_ai.client.inference.operation.details"


def parse_sessions(output: str) -> dict[tuple[str, str, str], list[re.Match[str]]]:
    """Session header ids -> the span lines printed under that header."""
    sessions: dict[tuple[str, str, str], list[re.Match[str]]] = {}
    current: list[re.Match[str]] | None = None
    for line in output.splitlines():
        header = SESSION_HEADER.match(line)
        if header:
            current = sessions.setdefault((header["session"], header["user"], header["tenant"]), [])
            continue
        span = SPAN_LINE.match(line)
        if span and current is not None:
            current.append(span)
        elif not line.strip():
            current = None
    return sessions


def parse_summary(output: str) -> dict[str, dict[str, int]]:
    rows = {}
    for line in output.splitlines():
        match = SUMMARY_ROW.match(line)
        if match:
            values = [int(v) for v in match[2].split()]
            rows[match[1]] = dict(zip(SUMMARY_COLUMNS, values, strict=True))
    return rows


def _name(span: re.Match[str]) -> str:
    return span["name"].lstrip("└├─│ ")


def test_demo_prints_a_tree_per_session_and_a_tenant_summary(
    run_python: RunPython, tmp_path: Path
) -> None:
    report_path = tmp_path / "report.json"

    result = run_python(DEMO, "--json", str(report_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    out = result.stdout
    sessions = parse_sessions(out)
    generated = [s for s in sessions if s[0].startswith("gen-")]
    assert set(sessions) - set(generated) == {
        ("acme-alice-1", "alice", "acme"),
        ("acme-bob-1", "bob", "acme"),
        ("globex-carol-7", "carol", "globex"),
    }
    # globex's first conversation came without an id: the server generated one,
    # returned it, and the client sent it back in a cookie on its second turn.
    assert len(generated) == 1 and generated[0][1:] == ("carol", "globex")
    assert re.fullmatch(r"gen-[0-9a-f]{8}", generated[0][0])
    assert f"Session {generated[0][0]} · user carol · tenant globex · 2 requests" in out

    for ids, spans in sessions.items():
        names = [_name(span) for span in spans]
        assert names.count("POST /chat") >= 2, ids
        assert {"invoke_workflow support-chat", "invoke_agent assistant"} <= set(names)
        for span in spans:  # every span line shows its session's three ids
            assert (span["session"], span["user"], span["tenant"]) == ids, span.group()
        # The model calls are the official instrumentation's chat spans, with the ids.
        chat = [span for span in spans if _name(span) == "chat fake-gpt-mini"]
        assert chat and all("official" in span["detail"] for span in chat)
    done = DONE.search(out)
    assert done is not None, out
    printed = sum(len(spans) for spans in sessions.values())
    assert int(done[1]) == printed
    assert f"Events: {done[2]} {EVENT} events" in out
    assert "(missing)" not in out

    assert "streamed" in out  # the streamed turns' model calls say so
    assert "└─ SELECT orders" in out  # a non-GenAI span, stamped by the processor

    summary = parse_summary(out)
    assert summary["acme"]["sessions"] == 2 and summary["acme"]["users"] == 2
    assert summary["acme"]["requests"] == 5 and summary["globex"]["requests"] == 4
    assert summary["globex"]["sessions"] == 2 and summary["globex"]["users"] == 1
    assert summary["acme"]["errors"] == 1 and summary["globex"]["errors"] == 1
    assert "acme: execute_tool lookup_order: OrderNotFound (session acme-bob-1)" in out
    assert f"globex: chat fake-gpt-mini: openai.RateLimitError (session {generated[0][0]})" in out
    for row in summary.values():
        assert row["model calls"] > row["requests"] and row["tokens in"] > row["tokens out"] > 0
    # One event per model call, the throttled one included.
    assert int(done[2]) == sum(row["model calls"] for row in summary.values())
    tokens = sum(row["tokens in"] + row["tokens out"] for row in summary.values())
    assert f"gen_ai.client.token.usage counts {tokens} tokens, as the spans say" in out

    check_json_report(json.loads(report_path.read_text()), sessions, summary, int(done[2]))


def check_json_report(
    report: dict[str, Any],
    sessions: dict[tuple[str, str, str], list[re.Match[str]]],
    summary: dict[str, dict[str, int]],
    events: int,
) -> None:
    """The --json report says what the printed report says, session by session."""
    assert report["project"] == "otel-genai-session-demo" and report["ok"] is True
    assert report["events"] == events
    assert report["spans"] == sum(len(spans) for spans in sessions.values())
    rows = {(r["session_id"], r["user_id"], r["customer_id"]): r for r in report["sessions"]}
    assert set(rows) == set(sessions)
    for ids, row in rows.items():
        requests = [s for s in sessions[ids] if _name(s) == "POST /chat"]
        assert row["traces"] == len(requests) == len(row["turns"])
        assert row["generated"] is ids[0].startswith("gen-")
        assert all(turn["input"] and turn["output"] for turn in row["turns"])
    for tenant, totals in summary.items():
        mine = [r for r in rows.values() if r["customer_id"] == tenant]
        assert sum(r["input_tokens"] for r in mine) == totals["tokens in"]
        assert sum(r["output_tokens"] for r in mine) == totals["tokens out"]
    alice = rows[("acme-alice-1", "alice", "acme")]["turns"]
    assert [t["input"] for t in alice] == [
        "Hi! What's the weather in Paris?",
        "And in Oslo?",
        "Thanks, bye!",
    ]
    assert alice[0]["output"] == "It is 18°C and sunny in Paris right now."


SCRIPT = """\
import sys
sys.path.insert(0, 'examples/demo')
import telemetry
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.trace import SpanProcessor

class NoLogProcessor(LogRecordProcessor):
    def on_emit(self, log_record): pass
    def shutdown(self): pass
    def force_flush(self, timeout_millis=30000): return True

telemetry.{name} = {replacement}  # one that does nothing
import demo
sys.exit(demo.main([]))
"""


def test_demo_exits_1_when_spans_lack_their_ids(run_python: RunPython) -> None:
    """Without SessionSpanProcessor, the spans our handler does not make (the
    server span, the official chat spans, the database span) have no ids."""
    script = SCRIPT.format(name="SessionSpanProcessor", replacement="SpanProcessor")

    result = run_python("-c", script)

    assert result.returncode == 1, result.stdout + result.stderr
    for name in ("POST /chat", "chat fake-gpt-mini", "SELECT orders"):
        assert f"span {name!r} has no session.id, user.id, customer.id" in result.stdout
    assert "span 'invoke_agent assistant' has no" not in result.stdout  # our handler's own
    assert "every one carries" not in result.stdout


def test_demo_exits_1_when_events_lack_their_ids(run_python: RunPython) -> None:
    script = SCRIPT.format(name="SessionLogRecordProcessor", replacement="NoLogProcessor")

    result = run_python("-c", script)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"event '{EVENT}' carries ('(missing)', '(missing)', '(missing)')" in result.stdout
    assert "has no session.id" not in result.stdout  # the spans are fine
    assert "every one carries" not in result.stdout


class Collector(BaseHTTPRequestHandler):
    """The smallest OTLP/HTTP receiver: keeps each request's path and protobuf body."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _values(attributes: Any) -> dict[str, Any]:
    values = {}
    for kv in attributes:
        kind = kv.value.WhichOneof("value")
        values[kv.key] = getattr(kv.value, kind) if kind else None
    return values


def test_demo_exports_spans_and_events_over_otlp(
    run_python: RunPython, collector: tuple[str, list[tuple[str, bytes]]]
) -> None:
    url, received = collector

    result = run_python(DEMO, "--otlp", url, "--otlp-logs", url, "--project", "my-project")

    assert result.returncode == 0, result.stdout + result.stderr
    spans_sent = re.search(r"OTLP: (\d+) spans exported to (\S+)\.", result.stdout)
    events_sent = re.search(r"OTLP: (\d+) events exported to (\S+)\.", result.stdout)
    done = DONE.search(result.stdout)
    assert spans_sent and events_sent and done, result.stdout
    assert spans_sent[2] == events_sent[2] == url
    assert {path for path, _ in received} == {"/v1/traces", "/v1/logs"}

    spans = []
    for _, body in (item for item in received if item[0] == "/v1/traces"):
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
            resource = _values(resource_spans.resource.attributes)
            assert resource["openinference.project.name"] == "my-project"
            assert resource["service.name"] == "chat-demo"
            spans.extend(s for scope in resource_spans.scope_spans for s in scope.spans)
    assert len(spans) == int(spans_sent[1]) == int(done[1])
    for span in spans:
        attributes = _values(span.attributes)
        assert all(attributes.get(key) for key in IDS), span.name
        if span.name == "POST /chat":  # the app's choice, for Phoenix's session view
            assert attributes["input.value"] and attributes["output.value"]
        if span.name == "chat fake-gpt-mini" and span.status.code != 2:  # content capture
            assert "gen_ai.input.messages" in attributes and "gen_ai.output.messages" in attributes

    events = []
    for _, body in (item for item in received if item[0] == "/v1/logs"):
        for resource_logs in ExportLogsServiceRequest.FromString(body).resource_logs:
            events.extend(r for scope in resource_logs.scope_logs for r in scope.log_records)
    assert len(events) == int(events_sent[1]) == int(done[2])
    for event in events:
        assert event.event_name == EVENT
        assert all(_values(event.attributes).get(key) for key in IDS)


def test_demo_fails_when_the_otlp_receiver_is_not_there(run_python: RunPython) -> None:
    result = run_python(DEMO, "--otlp", "http://127.0.0.1:9")  # the discard port: refused

    assert result.returncode == 1, result.stdout + result.stderr
    assert "OTLP export to http://127.0.0.1:9 failed for" in result.stdout


def test_demo_help_documents_its_flags(run_python: RunPython) -> None:
    result = run_python(DEMO, "--help")

    assert result.returncode == 0
    for flag in ("--otlp URL", "--otlp-logs URL", "--project NAME", "--json PATH"):
        assert flag in result.stdout
    assert "OTLP/HTTP" in result.stdout and "openinference.project.name" in result.stdout
