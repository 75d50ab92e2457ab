"""Turn exported spans into what a person wants to see, and check them.

- :func:`render_sessions`: per session, the trace tree of each request, every
  span with its duration and its ``session.id``, ``user.id``, ``customer.id``;
- :func:`tenant_rows` / :func:`render_summary`: per tenant, requests, model
  calls, tokens, tool calls and errors, computed from the spans alone;
- :func:`find_problems`: spans without their ids, or with ids that are not
  their request's. The demo exits non-zero when there is any.

Only the OpenTelemetry SDK's ``ReadableSpan`` is needed, so this module also
works on spans from any other exporter or test.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from style import Style

ID_KEYS = ("session.id", "user.id", "customer.id")
MISSING = "(missing)"
# The official OpenTelemetry GenAI instrumentations (opentelemetry-instrumentation-genai-*).
OFFICIAL_SCOPES = "opentelemetry.instrumentation.genai."
MODEL_CALLS = ("chat", "text_completion", "generate_content")  # gen_ai.operation.name


def ids_of(span: ReadableSpan) -> tuple[str, str, str]:
    attributes = span.attributes or {}
    return tuple(str(attributes.get(key, MISSING)) for key in ID_KEYS)  # type: ignore[return-value]


def duration_ms(span: ReadableSpan) -> float:
    return ((span.end_time or 0) - (span.start_time or 0)) / 1e6


@dataclass
class Trace:
    """One request: its root span and every span under it, by parent."""

    root: ReadableSpan
    children: dict[int, list[ReadableSpan]] = field(default_factory=dict)

    @property
    def ids(self) -> tuple[str, str, str]:
        return ids_of(self.root)

    def spans(self) -> list[ReadableSpan]:
        """The root and everything under it."""
        found, stack = [], [self.root]
        while stack:
            span = stack.pop()
            found.append(span)
            stack.extend(self.children.get(span.context.span_id, []))
        return found


def build_traces(spans: Iterable[ReadableSpan]) -> list[Trace]:
    """Traces in order of start, children in order of start."""
    by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        by_trace[span.context.trace_id].append(span)
    traces = []
    for members in by_trace.values():
        members.sort(key=lambda s: s.start_time or 0)
        known = {s.context.span_id for s in members}
        roots = [s for s in members if s.parent is None or s.parent.span_id not in known]
        children: dict[int, list[ReadableSpan]] = defaultdict(list)
        for span in members:
            if span.parent is not None and span.parent.span_id in known:
                children[span.parent.span_id].append(span)
        for root in roots:  # normally one; several if a parent was not exported
            traces.append(Trace(root, children))
    traces.sort(key=lambda t: t.root.start_time or 0)
    return traces


def _detail(span: ReadableSpan, style: Style) -> str:
    attributes = span.attributes or {}
    parts = []
    tokens = [
        f"{attributes[key]} {direction}"
        for key, direction in (
            ("gen_ai.usage.input_tokens", "in"),
            ("gen_ai.usage.output_tokens", "out"),
        )
        if key in attributes
    ]
    if tokens:
        parts.append(" / ".join(tokens) + " tokens")
    if attributes.get("gen_ai.request.stream"):
        parts.append("streamed")
    reasons = attributes.get("gen_ai.response.finish_reasons")
    if reasons and "tool_calls" in tuple(reasons):  # type: ignore[arg-type]
        parts.append("calls a tool")
    scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
    if scope.startswith(OFFICIAL_SCOPES):
        parts.append("official")
    if span.status.status_code is StatusCode.ERROR:
        parts.append(style.red(f"{style.fail} {attributes.get('error.type', 'error')}"))
    elif span.kind is SpanKind.SERVER and "http.response.status_code" in attributes:
        parts.append(f"HTTP {attributes['http.response.status_code']}")
    return ", ".join(parts)


def _tree_lines(trace: Trace, style: Style) -> list[tuple[str, ReadableSpan]]:
    lines: list[tuple[str, ReadableSpan]] = []

    def walk(span: ReadableSpan, line_prefix: str, children_prefix: str) -> None:
        lines.append((line_prefix + span.name, span))
        kids = trace.children.get(span.context.span_id, [])
        for index, kid in enumerate(kids):
            last = index == len(kids) - 1
            walk(kid, children_prefix + style.branch(last), children_prefix + style.pipe(last))

    walk(trace.root, "", "")
    return lines


def render_sessions(spans: Sequence[ReadableSpan], style: Style) -> str:
    """Per session (by the root span's ids), the tree of each of its requests."""
    traces = build_traces(spans)
    sessions: dict[tuple[str, str, str], list[Trace]] = defaultdict(list)
    for trace in traces:
        sessions[trace.ids].append(trace)
    rows = [(ids, group) for ids, group in sessions.items()]
    rows.sort(key=lambda row: (row[0][2], row[0][1], row[1][0].root.start_time or 0))

    all_lines = [
        (text, span) for _, group in rows for t in group for text, span in _tree_lines(t, style)
    ]
    name_width = max([len(text) for text, _ in all_lines] + [4])
    widths = [
        max([len(ids_of(span)[i]) for _, span in all_lines] + [len(ID_KEYS[i])]) for i in range(3)
    ]
    header = f"  {'span':<{name_width}}  {'duration':>9}  " + "  ".join(
        f"{key:<{w}}" for key, w in zip(ID_KEYS, widths, strict=True)
    )
    out = []
    for (session_id, user_id, customer_id), group in rows:
        count = len(group)
        out.append(
            style.bold(f"Session {session_id}")
            + f" {style.dot} user {user_id} {style.dot} tenant {customer_id} {style.dot} "
            + f"{count} request{'s' if count != 1 else ''}"
        )
        out.append(style.dim(header))
        for trace in group:
            for text, span in _tree_lines(trace, style):
                ids = ids_of(span)
                cells = "  ".join(
                    (style.red(f"{v:<{w}}") if v == MISSING else style.cyan(f"{v:<{w}}"))
                    for v, w in zip(ids, widths, strict=True)
                )
                detail = _detail(span, style)
                line = f"  {text:<{name_width}}  {duration_ms(span):>6.1f} ms  {cells}"
                out.append(f"{line}  {style.dim(detail) if detail else ''}".rstrip())
        out.append("")
    return "\n".join(out)


@dataclass
class TenantRow:
    tenant: str
    sessions: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    requests: int = 0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    errors: list[str] = field(default_factory=list)


def tenant_rows(spans: Iterable[ReadableSpan]) -> list[TenantRow]:
    """Per ``customer.id``: computed from span attributes and statuses only."""
    rows: dict[str, TenantRow] = {}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        attributes = span.attributes or {}
        session_id, user_id, tenant = ids_of(span)
        row = rows.setdefault(tenant, TenantRow(tenant))
        row.sessions.add(session_id)
        row.users.add(user_id)
        operation = attributes.get("gen_ai.operation.name")
        if span.kind is SpanKind.SERVER:
            row.requests += 1
        if operation in MODEL_CALLS:
            row.model_calls += 1
            row.input_tokens += int(attributes.get("gen_ai.usage.input_tokens", 0))  # type: ignore[arg-type]
            row.output_tokens += int(attributes.get("gen_ai.usage.output_tokens", 0))  # type: ignore[arg-type]
        if operation == "execute_tool":
            row.tool_calls += 1
        if span.status.status_code is StatusCode.ERROR:
            row.errors.append(
                f"{span.name}: {attributes.get('error.type', 'error')} (session {session_id})"
            )
    return sorted(rows.values(), key=lambda r: r.tenant)


def render_summary(rows: Sequence[TenantRow], style: Style) -> str:
    columns = (
        "tenant",
        "sessions",
        "users",
        "requests",
        "model calls",
        "tokens in",
        "tokens out",
        "tool calls",
        "errors",
    )
    table = [
        (
            r.tenant,
            len(r.sessions),
            len(r.users),
            r.requests,
            r.model_calls,
            r.input_tokens,
            r.output_tokens,
            r.tool_calls,
            len(r.errors),
        )
        for r in rows
    ]
    widths = [max(len(str(c)), *(len(str(row[i])) for row in table)) for i, c in enumerate(columns)]
    lines = [style.dim("  " + "  ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))]
    for row in table:
        cells = [f"{row[0]:<{widths[0]}}"] + [
            f"{v:>{w}}" for v, w in zip(row[1:], widths[1:], strict=True)
        ]
        if row[-1]:
            cells[-1] = style.red(cells[-1])
        lines.append("  " + "  ".join(cells))
    for r in rows:
        for error in r.errors:
            lines.append(f"  {style.red(style.fail)} {r.tenant}: {error}")
    return "\n".join(lines)


def find_problems(
    spans: Sequence[ReadableSpan], expected: Iterable[tuple[str, str, str]] = ()
) -> list[str]:
    """Every way the ids could be wrong, one line each; empty when all is well.

    A span must carry all three ids, the same as the root span of its request;
    with ``expected`` (session, user, tenant) triples, the sessions seen must be
    exactly those.
    """
    problems = []
    if not spans:
        problems.append("no spans were exported")
    for trace in build_traces(spans):
        for span in trace.spans():
            ids = ids_of(span)
            missing = [key for key, value in zip(ID_KEYS, ids, strict=True) if value == MISSING]
            if missing:
                problems.append(f"span {span.name!r} has no {', '.join(missing)}")
            elif ids != trace.ids:
                problems.append(f"span {span.name!r} carries {ids}, its request {trace.ids}")
    wanted = set(expected)
    if wanted:
        seen = {t.ids for t in build_traces(spans)}
        for triple in sorted(wanted - seen):
            problems.append(f"no request of session {triple} was traced")
        for triple in sorted(seen - wanted):
            problems.append(f"unexpected ids {triple} on a request")
    return problems
