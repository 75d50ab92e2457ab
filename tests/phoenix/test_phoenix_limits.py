"""What Phoenix does with ``session.id``, measured on the installed version.

docs/see-your-sessions.md states these limits; each test here is the
measurement behind one sentence there, so an upgrade of Phoenix that changes
one fails here first. Spans are exported over OTLP/HTTP by the real SDK, one
at a time where the order of arrival matters.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_genai_session import session_context
from otel_genai_session.privacy import disable_user_id_hashing, enable_user_id_hashing
from otel_genai_session.processor import SessionSpanProcessor

from ._api import PhoenixAPI
from ._demo import wait_for_spans
from ._server import PhoenixServer

pytestmark = pytest.mark.timeout(600)  # the first test also waits for Phoenix to start


@contextmanager
def tracer_for(phoenix: PhoenixServer, project: str, *first: SpanProcessor) -> Iterator[Tracer]:
    """A tracer whose spans go to Phoenix's ``project`` as each one ends
    (after ``first``, the processors an application puts before its exporter)."""
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": project}))
    for processor in first:
        provider.add_span_processor(processor)
    exporter = OTLPSpanExporter(endpoint=f"{phoenix.url}/v1/traces", timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider.get_tracer("phoenix-limits")
    finally:
        provider.shutdown()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_telemetry_is_off_in_the_served_page(api: PhoenixAPI) -> None:
    """With the pixels on, the page loads one from Scarf (on by default) and,
    when configured, FullStory's script; with external resources off, no web fonts."""
    page = api.page("/")

    assert "scarf.sh" not in page and "fullstory" not in page.lower()
    assert re.search(r'allowExternalResources:\s*Boolean\("False" == "True"\)', page), page


def test_session_ids_are_global_across_projects(
    phoenix: PhoenixServer, api: PhoenixAPI, new_project: Callable[[], str]
) -> None:
    first, second = new_project(), new_project()
    session_id = unique("shared")
    for project in (first, second):
        with tracer_for(phoenix, project) as tracer:
            tracer.start_span("turn", attributes={"session.id": session_id}).end()
        assert wait_for_spans(api, project, 1) == 1

    (session,) = api.sessions(first)
    assert (session.session_id, session.traces) == (session_id, 2)  # the second project's too
    assert api.sessions(second) == []  # its trace is stored there, its session is not

    api.delete_project(first)  # deletes the session, and with it the second project's trace
    assert api.spans(second) == []


def test_the_first_span_to_arrive_sets_the_trace_session(
    phoenix: PhoenixServer, api: PhoenixAPI, project: str
) -> None:
    child_session, root_session = unique("child"), unique("root")
    with tracer_for(phoenix, project) as tracer:
        root = tracer.start_span("request", attributes={"session.id": root_session})
        with tracer.start_as_current_span("inner", trace.set_span_in_context(root)) as child:
            child.set_attribute("session.id", child_session)
        assert wait_for_spans(api, project, 1) == 1  # the child is stored first
        root.end()
    assert wait_for_spans(api, project, 2) == 2

    assert [(s.session_id, s.traces) for s in api.sessions(project)] == [(child_session, 1)]


def test_tokens_come_from_the_genai_usage_attributes_of_model_calls(
    phoenix: PhoenixServer, api: PhoenixAPI, project: str
) -> None:
    """``gen_ai.usage.*`` alone (no OpenInference attribute) is counted, on the
    spans Phoenix takes for model calls (``gen_ai.operation.name`` chat,
    text_completion, generate_content); an agent span's usage is not added again."""
    session_id = unique("tokens")
    usage = {"gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 7}
    with tracer_for(phoenix, project) as tracer:
        agent = {"session.id": session_id, "gen_ai.operation.name": "invoke_agent"}
        with tracer.start_as_current_span("invoke_agent a", attributes=agent) as span:
            span.set_attributes({"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 9})
            chat = {"session.id": session_id, "gen_ai.operation.name": "chat", **usage}
            tracer.start_span("chat m", attributes=chat).end()
    assert wait_for_spans(api, project, 2) == 2

    (session,) = api.sessions(project)
    assert (session.prompt_tokens, session.completion_tokens) == (11, 7)


def test_the_user_column_reads_user_id_only(
    phoenix: PhoenixServer, api: PhoenixAPI, project: str
) -> None:
    """With user-id hashing on, spans carry ``user.hash``: Phoenix groups the
    session but shows no user (it reads ``user.id`` alone)."""
    session_id = unique("hashed")
    enable_user_id_hashing(key="phoenix-test-key")
    try:
        with (
            tracer_for(phoenix, project, SessionSpanProcessor()) as tracer,
            session_context(session_id=session_id, user_id="alice"),
        ):
            tracer.start_span("turn").end()
    finally:
        disable_user_id_hashing()
    assert wait_for_spans(api, project, 1) == 1

    (span,) = api.spans(project)
    assert "user.hash" in span.attributes and "user.id" not in span.attributes
    (session,) = api.sessions(project)
    assert (session.session_id, session.user_id) == (session_id, None)


def test_gen_ai_conversation_id_stands_in_for_a_missing_session_id(
    phoenix: PhoenixServer, api: PhoenixAPI, project: str
) -> None:
    """A span with ``gen_ai.conversation.id`` (``TelemetryHandler``'s
    ``conversation_id_from_session``) and no ``session.id`` still lands in a session;
    with both, ``session.id`` wins."""
    alone, both = unique("conversation"), unique("session")
    with tracer_for(phoenix, project) as tracer:
        tracer.start_span("chat a", attributes={"gen_ai.conversation.id": alone}).end()
        attributes = {"gen_ai.conversation.id": unique("ignored"), "session.id": both}
        tracer.start_span("chat b", attributes=attributes).end()
    assert wait_for_spans(api, project, 2) == 2

    assert sorted(s.session_id for s in api.sessions(project)) == sorted([alone, both])
