"""Per session, from the exported spans: what a backend's session view should show.

- :func:`session_rows`: per ``session.id`` (as the root span of each request
  says), its user and tenant, its number of traces, its model token totals and
  its turns (``input.value`` / ``output.value`` of each root span);
- :func:`report_json`: those rows as the machine-readable report of
  ``demo.py --json PATH``, what a backend's test compares the backend with:
  ``{"project", "ok", "spans", "events", "sessions": [{"session_id", "user_id",
  "customer_id", "generated", "traces", "input_tokens", "output_tokens",
  "turns": [{"input", "output"}]}]}``;
- :func:`find_event_problems`: GenAI events without their request's ids.

The token totals are computed exactly as the per-tenant table's (model-call
spans' ``gen_ai.usage.*``), from the same spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan
from trace_report import ID_KEYS, MISSING, MODEL_CALLS, build_traces

__all__ = ["SessionRow", "find_event_problems", "report_json", "session_rows"]

EVENT = "gen_ai.client.inference.operation.details"


@dataclass
class SessionRow:
    session_id: str
    user_id: str
    customer_id: str
    generated: bool  # the server made the id up (the client sent none)
    traces: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    turns: list[dict[str, str]] = field(default_factory=list)


def session_rows(spans: Iterable[ReadableSpan], generated: Iterable[str] = ()) -> list[SessionRow]:
    """One row per session, in order of first request."""
    made_up = set(generated)
    rows: dict[tuple[str, str, str], SessionRow] = {}
    for trace in build_traces(spans):
        session_id, user_id, customer_id = trace.ids
        row = rows.setdefault(
            trace.ids, SessionRow(session_id, user_id, customer_id, session_id in made_up)
        )
        row.traces += 1
        root = trace.root.attributes or {}
        row.turns.append(
            {"input": str(root.get("input.value", "")), "output": str(root.get("output.value", ""))}
        )
        for span in trace.spans():
            attributes = span.attributes or {}
            if attributes.get("gen_ai.operation.name") in MODEL_CALLS:
                row.input_tokens += int(attributes.get("gen_ai.usage.input_tokens", 0))  # type: ignore[arg-type]
                row.output_tokens += int(attributes.get("gen_ai.usage.output_tokens", 0))  # type: ignore[arg-type]
    return list(rows.values())


def report_json(
    rows: Sequence[SessionRow], *, project: str, spans: int, events: int, ok: bool
) -> dict[str, Any]:
    return {
        "project": project,
        "ok": ok,
        "spans": spans,
        "events": events,
        "sessions": [asdict(row) for row in rows],
    }


def find_event_problems(
    events: Sequence[ReadableLogRecord], spans: Sequence[ReadableSpan]
) -> list[str]:
    """Each GenAI event must carry the ids of the request (trace) it was emitted in."""
    ids_by_trace = {t.root.context.trace_id: t.ids for t in build_traces(spans)}
    problems = []
    for record in events:
        log = record.log_record
        attributes = log.attributes or {}
        ids = tuple(str(attributes.get(key, MISSING)) for key in ID_KEYS)
        expected = ids_by_trace.get(log.trace_id or 0)
        if expected is None:
            problems.append(f"event {log.event_name!r} belongs to no exported request")
        elif ids != expected:
            problems.append(f"event {log.event_name!r} carries {ids}, its request {expected}")
    return problems
