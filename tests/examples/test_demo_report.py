"""The demo's report module on spans made here: the checks that decide its exit status.

The end-to-end run only ever sees correct spans (or, with the processor taken
out, one kind of wrong ones); these feed ``find_problems`` and the renderers
every kind of wrong span, from a real SDK provider.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from .conftest import EXAMPLES

IDS = {"session.id": "s-1", "user.id": "alice", "customer.id": "acme"}


@pytest.fixture(scope="module")
def report() -> Iterator[ModuleType]:
    """examples/demo/trace_report.py, loaded under a name no other module uses."""
    name = "_demo_trace_report_under_test"
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "demo" / "trace_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    yield module
    del sys.modules[name]


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
