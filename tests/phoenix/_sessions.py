"""What the demo reported, against what Phoenix shows: one line per difference.

Usage::

    expected = DemoReport.load(report_path)
    problems = compare(expected, api.sessions(project), api.spans(project))
    assert problems == []

The demo computes its report (``--json PATH``) from the spans it exported;
Phoenix computes its Sessions view from the same spans, received over OTLP.
They must agree on every session (the id, the generated one included), its
user, its number of traces, its token totals, and (when the report lists the
turns) its first input and last output, the text of Phoenix's session view; and
every span Phoenix stored
must carry the ``session.id``, ``user.id`` and ``customer.id`` of its request.
That last check is what fails when ``SessionSpanProcessor`` is left out: the
GenAI spans still carry ids (the handler sets them), so Phoenix's session rows
alone would look right, but the server span, the database span and any
instrumentation's spans would have none.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._api import PhoenixSession, PhoenixSpan

__all__ = ["DemoReport", "ExpectedSession", "compare"]

ID_KEYS = ("session.id", "user.id", "customer.id")


@dataclass(frozen=True)
class ExpectedSession:
    session_id: str
    user_id: str
    customer_id: str
    traces: int
    input_tokens: int
    output_tokens: int
    generated: bool = False  # the server made the id up
    first_input: str | None = None  # the conversation's first message and last reply,
    last_output: str | None = None  # when the report has its turns

    @property
    def ids(self) -> tuple[str, str, str]:
        return (self.session_id, self.user_id, self.customer_id)


@dataclass(frozen=True)
class DemoReport:
    """The demo's ``--json`` report: its sessions and how many spans it exported."""

    sessions: tuple[ExpectedSession, ...]
    spans: int

    @classmethod
    def load(cls, path: Path) -> DemoReport:
        return cls.from_json(json.loads(path.read_text("utf-8")))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DemoReport:
        return cls(tuple(_expected(row) for row in data["sessions"]), int(data["spans"]))

    @property
    def traces(self) -> int:
        return sum(session.traces for session in self.sessions)


def _expected(row: Mapping[str, Any]) -> ExpectedSession:
    turns = row.get("turns") or []
    return ExpectedSession(
        session_id=str(row["session_id"]),
        user_id=str(row["user_id"]),
        customer_id=str(row["customer_id"]),
        traces=int(row["traces"]),
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        generated=bool(row.get("generated", False)),
        first_input=str(turns[0]["input"]) if turns else None,
        last_output=str(turns[-1]["output"]) if turns else None,
    )


def compare(
    report: DemoReport, sessions: Sequence[PhoenixSession], spans: Sequence[PhoenixSpan]
) -> list[str]:
    """Every difference between the report and Phoenix, as readable lines."""
    return [
        *_compare_sessions(report.sessions, sessions),
        *_compare_spans(report, spans),
    ]


def _compare_sessions(
    expected: Iterable[ExpectedSession], shown: Sequence[PhoenixSession]
) -> list[str]:
    problems = []
    by_id = {session.session_id: session for session in shown}
    wanted = {session.session_id: session for session in expected}
    for session_id in sorted(wanted.keys() - by_id.keys()):
        problems.append(f"session {session_id!r} is not in Phoenix's Sessions view")
    for session_id in sorted(by_id.keys() - wanted.keys()):
        problems.append(f"Phoenix shows a session {session_id!r} the demo did not report")
    for session_id in sorted(wanted.keys() & by_id.keys()):
        want, got = wanted[session_id], by_id[session_id]
        for field, want_value, got_value in (
            ("user", want.user_id, got.user_id),
            ("traces", want.traces, got.traces),
            ("input tokens", want.input_tokens, got.prompt_tokens),
            ("output tokens", want.output_tokens, got.completion_tokens),
            ("first input", want.first_input, got.first_input),
            ("last output", want.last_output, got.last_output),
        ):
            if want_value is not None and want_value != got_value:
                problems.append(
                    f"session {session_id!r}: {field} {got_value!r} in Phoenix, "
                    f"{want_value!r} in the demo's report"
                )
    return problems


def _compare_spans(report: DemoReport, spans: Sequence[PhoenixSpan]) -> list[str]:
    problems = []
    if len(spans) != report.spans:
        problems.append(f"Phoenix holds {len(spans)} spans, the demo exported {report.spans}")
    by_trace: dict[str, list[PhoenixSpan]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    if len(by_trace) != report.traces:
        problems.append(
            f"Phoenix holds {len(by_trace)} traces, the demo's sessions have {report.traces}"
        )
    known = {session.ids for session in report.sessions}
    for trace_id, members in sorted(by_trace.items()):
        problems.extend(_trace_problems(trace_id, members, known))
    return problems


def _trace_problems(
    trace_id: str, members: Sequence[PhoenixSpan], known: set[tuple[str, str, str]]
) -> list[str]:
    """Every span of a trace carries the same three ids, those of a reported session."""
    problems = []
    seen: set[tuple[str, str, str]] = set()
    for span in sorted(members, key=lambda s: (s.parent_id is not None, s.name)):
        missing = [key for key in ID_KEYS if not span.attributes.get(key)]
        if missing:
            problems.append(f"trace {trace_id}: span {span.name!r} has no {', '.join(missing)}")
            continue
        session_id, user_id, customer_id = (str(span.attributes[key]) for key in ID_KEYS)
        seen.add((session_id, user_id, customer_id))
    if len(seen) > 1:
        problems.append(f"trace {trace_id}: its spans carry different ids {sorted(seen)}")
    for ids in sorted(seen - known):
        problems.append(f"trace {trace_id}: ids {ids} are not those of a reported session")
    return problems
