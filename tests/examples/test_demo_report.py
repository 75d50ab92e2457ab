"""The demo's report modules on spans made here: the checks that decide its exit status.

The end-to-end run (tests/official/test_demo.py, in the official-stack
environment) only ever sees correct spans (or, with a processor taken out, one
kind of wrong ones); these feed ``find_problems``, ``find_event_problems``, the
renderers and the per-session report every kind of wrong input, from a real SDK
provider. They need the SDK only, so they run in the main suite.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.context import get_current
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from .conftest import EXAMPLES

IDS = {"session.id": "s-1", "user.id": "alice", "customer.id": "acme"}


DEMO_MODULES = ("style", "trace_report", "session_report")


@pytest.fixture(scope="module")
def demo_modules() -> Iterator[dict[str, ModuleType]]:
    """examples/demo's report modules, imported as the demo imports them (its
    folder first on sys.path), and forgotten afterwards."""
    sys.path.insert(0, str(EXAMPLES / "demo"))
    try:
        yield {name: importlib.import_module(name) for name in DEMO_MODULES}
    finally:
        sys.path.remove(str(EXAMPLES / "demo"))
        for name in DEMO_MODULES:
            sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def report(demo_modules: dict[str, ModuleType]) -> ModuleType:
    return demo_modules["trace_report"]


@pytest.fixture(scope="module")
def sessions(demo_modules: dict[str, ModuleType]) -> ModuleType:
    return demo_modules["session_report"]


def request_spans(
    server: dict[str, str], children: list[dict[str, str]], error: bool = False
) -> tuple[ReadableSpan, ...]:
    """One request: a SERVER root with ``server`` attributes, children with theirs."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER, attributes=server):
        for index, attributes in enumerate(children):
            with tracer.start_as_current_span(f"child {index}", attributes=attributes) as span:
                if error:
                    span.set_status(Status(StatusCode.ERROR))
                    span.set_attribute("error.type", "Boom")
    return exporter.get_finished_spans()


@pytest.mark.parametrize(
    ("server", "children", "expected", "problems"),
    [
        pytest.param(IDS, [IDS, IDS], {("s-1", "alice", "acme")}, [], id="all-good"),
        pytest.param(
            IDS,
            [{"session.id": "s-1", "user.id": "alice"}],
            (),
            ["span 'child 0' has no customer.id"],
            id="child-missing-one-id",
        ),
        pytest.param(
            {},
            [],
            (),
            ["span 'POST /chat' has no session.id, user.id, customer.id"],
            id="root-without-ids",
        ),
        pytest.param(
            IDS,
            [{**IDS, "user.id": "mallory"}],
            (),
            [
                "span 'child 0' carries ('s-1', 'mallory', 'acme'),"
                " its request ('s-1', 'alice', 'acme')"
            ],
            id="child-with-another-requests-ids",
        ),
        pytest.param(
            IDS,
            [IDS],
            {("s-2", "bob", "acme")},
            [
                "no request of session ('s-2', 'bob', 'acme') was traced",
                "unexpected ids ('s-1', 'alice', 'acme') on a request",
            ],
            id="expected-session-missing",
        ),
    ],
)
def test_find_problems_names_each_wrong_span(
    report: ModuleType,
    server: dict[str, str],
    children: list[dict[str, str]],
    expected: set[tuple[str, str, str]],
    problems: list[str],
) -> None:
    assert report.find_problems(request_spans(server, children), expected) == problems


def test_find_problems_reports_an_empty_export(report: ModuleType) -> None:
    assert report.find_problems((), ()) == ["no spans were exported"]


@pytest.mark.parametrize(
    ("unicode", "last_child"),
    [pytest.param(True, "└─ child 1", id="unicode"), pytest.param(False, "`- child 1", id="ascii")],
)
def test_render_sessions_draws_the_tree_with_ids_on_every_line(
    report: ModuleType, unicode: bool, last_child: str
) -> None:
    style = report.Style(enabled=False, unicode=unicode)

    text = report.render_sessions(request_spans(IDS, [IDS, IDS]), style)

    lines = text.splitlines()
    assert lines[0].startswith("Session s-1") and "user alice" in lines[0]
    assert "1 request" in lines[0] and "\033[" not in text
    span_lines = [line for line in lines if " ms " in line]
    assert [line.split()[0] for line in span_lines] == [
        "POST",
        "├─" if unicode else "|-",
        last_child.split()[0],
    ]
    assert all(line.split()[-3:] == ["s-1", "alice", "acme"] for line in span_lines[1:])
    assert last_child in text


def test_render_sessions_marks_missing_ids(report: ModuleType) -> None:
    text = report.render_sessions(request_spans(IDS, [{}]), report.Style(False, unicode=True))

    assert text.count("(missing)") == 3


def test_tenant_rows_count_requests_tokens_and_errors(report: ModuleType) -> None:
    llm = {**IDS, "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 10,
           "gen_ai.usage.output_tokens": 4}  # fmt: skip
    tool = {**IDS, "gen_ai.operation.name": "execute_tool"}
    spans = request_spans(IDS, [llm, llm, tool]) + request_spans(IDS, [tool], error=True)

    (row,) = report.tenant_rows(spans)

    assert (row.tenant, row.sessions, row.users) == ("acme", {"s-1"}, {"alice"})
    assert (row.requests, row.model_calls, row.tool_calls) == (2, 2, 2)
    assert (row.input_tokens, row.output_tokens) == (20, 8)
    assert row.errors == ["child 0: Boom (session s-1)"]
    summary = report.render_summary([row], report.Style(False, unicode=False))
    assert summary.splitlines()[1].split() == ["acme", "1", "1", "2", "2", "20", "8", "2", "1"]
    assert "FAIL acme: child 0: Boom (session s-1)" in summary


# -- the per-session report (demo.py --json) and the event check ---------------------------


def test_session_rows_count_traces_tokens_and_turns(sessions: ModuleType) -> None:
    llm = {**IDS, "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 10,
           "gen_ai.usage.output_tokens": 4}  # fmt: skip
    turn = {**IDS, "input.value": "hi", "output.value": "hello"}
    other = {"session.id": "gen-1", "user.id": "bob", "customer.id": "acme"}
    spans = (
        request_spans(turn, [llm, llm])
        + request_spans(other, [{**other, **{k: v for k, v in llm.items() if k not in IDS}}])
        + request_spans({**IDS, "input.value": "bye"}, [IDS])
    )

    rows = sessions.session_rows(spans, generated=["gen-1"])

    first, second = rows
    assert (first.session_id, first.user_id, first.customer_id) == ("s-1", "alice", "acme")
    assert (first.traces, first.input_tokens, first.output_tokens) == (2, 20, 8)
    assert first.turns == [{"input": "hi", "output": "hello"}, {"input": "bye", "output": ""}]
    assert first.generated is False and second.generated is True
    assert (second.session_id, second.traces, second.input_tokens) == ("gen-1", 1, 10)
    report = sessions.report_json(rows, project="p", spans=len(spans), events=0, ok=True)
    assert report["project"] == "p" and report["spans"] == 7 and report["ok"] is True
    assert report["sessions"][1] == {
        "session_id": "gen-1", "user_id": "bob", "customer_id": "acme", "generated": True,
        "traces": 1, "input_tokens": 10, "output_tokens": 4, "turns": [{"input": "", "output": ""}],
    }  # fmt: skip


def request_with_event(
    server: dict[str, str], event: dict[str, str], in_trace: bool = True
) -> tuple[tuple[ReadableSpan, ...], tuple[Any, ...]]:
    """One request span, and one GenAI event emitted inside it (or outside any)."""
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    tracer_provider, logger_provider = TracerProvider(), LoggerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    logger = logger_provider.get_logger("t")

    def emit() -> None:  # as opentelemetry-util-genai does: in the current context
        name = "gen_ai.client.inference.operation.details"
        logger.emit(LogRecord(event_name=name, attributes=event, context=get_current()))

    with tracer_provider.get_tracer("t").start_as_current_span("POST /chat", attributes=server):
        if in_trace:
            emit()
    if not in_trace:
        emit()
    return spans.get_finished_spans(), logs.get_finished_logs()


@pytest.mark.parametrize(
    ("event", "in_trace", "problems"),
    [
        pytest.param(IDS, True, [], id="tagged"),
        pytest.param(
            {},
            True,
            [
                "event 'gen_ai.client.inference.operation.details' carries "
                "('(missing)', '(missing)', '(missing)'), its request ('s-1', 'alice', 'acme')"
            ],
            id="untagged",
        ),
        pytest.param(
            {**IDS, "customer.id": "globex"},
            True,
            [
                "event 'gen_ai.client.inference.operation.details' carries "
                "('s-1', 'alice', 'globex'), its request ('s-1', 'alice', 'acme')"
            ],
            id="another-tenant",
        ),
        pytest.param(
            IDS,
            False,
            ["event 'gen_ai.client.inference.operation.details' belongs to no exported request"],
            id="outside-any-request",
        ),
    ],
)
def test_find_event_problems_names_each_wrong_event(
    sessions: ModuleType, event: dict[str, str], in_trace: bool, problems: list[str]
) -> None:
    spans, events = request_with_event(IDS, event, in_trace)

    assert sessions.find_event_problems(events, spans) == problems
