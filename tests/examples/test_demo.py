"""The demo end to end: the README's first command, minus the virtualenv set-up.

``python examples/demo/demo.py`` starts a real uvicorn server on 127.0.0.1,
plays the conversations over real HTTP and prints trees and a summary from
the exported spans. These tests read that output as a person would, check it
against the conversation script, and check the exit status both ways: 0 when
every span carries its ids, 1 when they do not (the session processor left
out) or when the OTLP export fails.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .conftest import RunPython

DEMO = "examples/demo/demo.py"
SPAN_LINE = re.compile(
    r"^  (?P<name>.+?)\s+(?P<ms>\d+\.\d) ms  (?P<session>\S+)\s+(?P<user>\S+)\s+(?P<tenant>\S+)"
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


def test_demo_prints_a_tree_per_session_and_a_tenant_summary(run_python: RunPython) -> None:
    result = run_python(DEMO)

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
        names = [span["name"].lstrip("└├─│ ") for span in spans]
        assert names.count("POST /chat") >= 2, ids
        assert {"invoke_workflow support-chat", "invoke_agent assistant"} <= set(names)
        for span in spans:  # every span line shows its session's three ids
            assert (span["session"], span["user"], span["tenant"]) == ids, span.group()
    printed = sum(len(spans) for spans in sessions.values())
    assert f"{printed} spans in 9 requests; every span carries" in out
    assert "(missing)" not in out

    assert "streamed" in out  # the streamed turns' model calls say so
    assert "└─ SELECT orders" in out  # a non-GenAI span, stamped by the processor

    summary = parse_summary(out)
    assert summary["acme"]["sessions"] == 2 and summary["acme"]["users"] == 2
    assert summary["acme"]["requests"] == 5 and summary["globex"]["requests"] == 4
    assert summary["globex"]["sessions"] == 2 and summary["globex"]["users"] == 1
    assert summary["acme"]["errors"] == 1 and summary["globex"]["errors"] == 1
    assert "acme: execute_tool lookup_order: OrderNotFound (session acme-bob-1)" in out
    assert "globex: chat fake-gpt-mini: RateLimitError" in out
    for row in summary.values():
        assert row["model calls"] > row["requests"] and row["tokens in"] > row["tokens out"] > 0
    tokens = ", ".join(
        f"{tenant} {summary[tenant]['tokens in'] + summary[tenant]['tokens out']}"
        for tenant in ("acme", "globex")
    )
    assert f"by customer.id (an opt-in): {tokens} tokens" in out


def test_demo_exits_1_when_spans_lack_their_ids(run_python: RunPython) -> None:
    """Without SessionSpanProcessor, the spans the handler does not make (the
    server span, the database span) have no ids: the demo must say so and fail."""
    script = (
        "import sys\n"
        "sys.path.insert(0, 'examples/demo')\n"
        "import demo\n"
        "from opentelemetry.sdk.trace import SpanProcessor\n"
        "demo.SessionSpanProcessor = SpanProcessor  # one that does nothing\n"
        "sys.exit(demo.main([]))\n"
    )
    result = run_python("-c", script)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "span 'POST /chat' has no session.id, user.id, customer.id" in result.stdout
    assert "span 'SELECT orders' has no session.id, user.id, customer.id" in result.stdout
    assert "span 'chat fake-gpt-mini' has no" not in result.stdout  # the handler's own spans
    assert "every span carries" not in result.stdout


class Collector(BaseHTTPRequestHandler):
    """The smallest OTLP/HTTP trace receiver: keeps each request's protobuf body."""

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


def test_demo_exports_the_same_spans_over_otlp(
    run_python: RunPython, collector: tuple[str, list[tuple[str, bytes]]]
) -> None:
    url, received = collector

    result = run_python(DEMO, "--otlp", url)

    assert result.returncode == 0, result.stdout + result.stderr
    exported = re.search(r"OTLP: (\d+) spans exported to (\S+)\.", result.stdout)
    assert exported is not None and exported[2] == url
    assert {path for path, _ in received} == {"/v1/traces"}
    spans = []
    for _, body in received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    assert len(spans) == int(exported[1])
    assert f"{len(spans)} spans in 9 requests" in result.stdout  # the summary's local copy
    for span in spans:
        keys = {kv.key: kv.value.string_value for kv in span.attributes}
        assert keys.get("session.id") and keys.get("user.id") and keys.get("customer.id")


def test_demo_help_documents_the_otlp_flag(run_python: RunPython) -> None:
    result = run_python(DEMO, "--help")

    assert result.returncode == 0
    assert "--otlp URL" in result.stdout and "OTLP/HTTP" in result.stdout
