"""``gen_ai.conversation.id`` from the session (issue 24, item 4): opt-in, on the GenAI
spans and events of any instrumentation, never replacing an instrumentation's own.

The official OpenAI instrumentation's ``chat`` spans are tested beside it in
tests/official/test_conversation_id.py (they need the official stack's venv).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import _fastpaths
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_CONVERSATION_ID_FROM_SESSION as FLAG,
)
from otel_genai_session.environment_variables import OTEL_INSTRUMENTATION_GENAI_SESSION_ID
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.logs import SessionLogRecordProcessor
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.session import session_context
from otel_genai_session.types import LLMInvocation, Step
from tests.sampling._support import child_environment

CONVERSATION = "gen_ai.conversation.id"
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}


@pytest.fixture(autouse=True)
def _no_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FLAG, raising=False)


def attrs(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def spans_with(
    processor: SessionSpanProcessor, limits: SpanLimits | None = None
) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits) if limits else TracerProvider()
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def start_and_end(provider: TracerProvider, attributes: Mapping[str, Any] | None = None) -> None:
    provider.get_tracer("an.instrumentation").start_span("chat gpt-4o", attributes=attributes).end()


def exported(exporter: InMemorySpanExporter) -> Mapping[str, Any]:
    (span,) = exporter.get_finished_spans()
    return attrs(span)


# -- spans ------------------------------------------------------------------------------


def test_off_by_default() -> None:
    provider, exporter = spans_with(SessionSpanProcessor())
    with session_context(session_id="conv-1"):
        start_and_end(provider, CHAT)
    assert exported(exporter) == {**CHAT, "session.id": "conv-1"}


@pytest.mark.parametrize(
    "start",
    [
        pytest.param({"gen_ai.operation.name": "chat"}, id="operation"),
        pytest.param({"gen_ai.provider.name": "openai"}, id="provider"),
        pytest.param({"gen_ai.system": "openai"}, id="system-older-conventions"),
        pytest.param({"gen_ai.operation.name": "invoke_agent", "x": 1}, id="agent"),
    ],
)
def test_on_every_genai_span_gets_the_session_id(start: dict[str, Any]) -> None:
    provider, exporter = spans_with(SessionSpanProcessor(conversation_id_from_session=True))
    with session_context(session_id="conv-1", user_id="u"):
        start_and_end(provider, start)
    assert exported(exporter) == {
        **start,
        "session.id": "conv-1",
        "user.id": "u",
        CONVERSATION: "conv-1",
    }


@pytest.mark.parametrize(
    "start",
    [
        pytest.param(None, id="plain"),
        pytest.param({"http.request.method": "POST"}, id="http"),
        pytest.param({"gen_ai.request.model": "gpt-4o"}, id="model-only"),
    ],
)
def test_on_other_spans_get_no_conversation_id(start: dict[str, Any] | None) -> None:
    provider, exporter = spans_with(SessionSpanProcessor(conversation_id_from_session=True))
    with session_context(session_id="conv-1"):
        start_and_end(provider, start)
    assert CONVERSATION not in exported(exporter)
    assert exported(exporter)["session.id"] == "conv-1"


def test_on_without_a_session_adds_nothing() -> None:
    provider, exporter = spans_with(SessionSpanProcessor(conversation_id_from_session=True))
    with session_context(user_id="u"):  # a user, no session id
        start_and_end(provider, CHAT)
    start_and_end(provider, CHAT)  # no session at all
    first, second = (attrs(span) for span in exporter.get_finished_spans())
    assert first == {**CHAT, "user.id": "u"}
    assert second == CHAT


def test_the_session_id_from_the_environment_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_SESSION_ID, "env-conv")
    provider, exporter = spans_with(SessionSpanProcessor(conversation_id_from_session=True))
    start_and_end(provider, CHAT)
    assert exported(exporter) == {**CHAT, "session.id": "env-conv", CONVERSATION: "env-conv"}


def test_a_conversation_id_the_span_started_with_is_kept() -> None:
    provider, exporter = spans_with(SessionSpanProcessor(conversation_id_from_session=True))
    with session_context(session_id="conv-1"):
        start_and_end(provider, {**CHAT, CONVERSATION: "theirs"})
    assert exported(exporter)[CONVERSATION] == "theirs"


def test_a_conversation_id_set_when_the_span_ends_replaces_ours() -> None:
    """The official instrumentations set theirs with the response attributes."""
    provider, exporter = spans_with(SessionSpanProcessor(conversation_id_from_session=True))
    with session_context(session_id="conv-1"):
        span = provider.get_tracer("t").start_span("chat", attributes=CHAT)
        span.set_attribute(CONVERSATION, "theirs")
        span.end()
    assert exported(exporter)[CONVERSATION] == "theirs"


def test_the_spans_own_session_id_is_its_conversation_id() -> None:
    """A span started with its own session.id keeps it, and the conversation id agrees."""
    provider, exporter = spans_with(SessionSpanProcessor(conversation_id_from_session=True))
    with session_context(session_id="in-effect"):
        start_and_end(provider, {**CHAT, "session.id": "own"})
    assert exported(exporter)["session.id"] == "own"
    assert exported(exporter)[CONVERSATION] == "own"


def test_the_attribute_limit_leaves_the_conversation_id_out_first() -> None:
    limits = SpanLimits(max_span_attributes=len(CHAT) + 1)
    provider, exporter = spans_with(SessionSpanProcessor(conversation_id_from_session=True), limits)
    with session_context(session_id="conv-1"):
        start_and_end(provider, CHAT)
    (span,) = exporter.get_finished_spans()
    assert attrs(span) == {**CHAT, "session.id": "conv-1"}
    # The fast path reads the limit; the public one learns it when the SDK drops
    # and puts the evicted attribute back (two evictions counted, same attributes).
    assert span.dropped_attributes == (0 if _fastpaths.ENABLED else 2)


@pytest.fixture(params=["fast", "public"])
def paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The span-attribute fast paths, and their public fallbacks, give the same spans."""
    if request.param == "public":
        from otel_genai_session import _conversation

        monkeypatch.setattr(_conversation, "span_attributes", _fastpaths.public_span_attributes)
        monkeypatch.setattr(
            _conversation, "add_span_attributes", _fastpaths.public_add_span_attributes
        )
    yield request.param


def test_fast_and_public_paths_agree(paths: str) -> None:
    provider, exporter = spans_with(SessionSpanProcessor(conversation_id_from_session=True))
    with session_context(session_id="conv-1"):
        start_and_end(provider, CHAT)
        start_and_end(provider, {**CHAT, CONVERSATION: "theirs"})
        start_and_end(provider, {"db.system": "redis"})
    chat, theirs, database = (attrs(span) for span in exporter.get_finished_spans())
    assert chat == {**CHAT, "session.id": "conv-1", CONVERSATION: "conv-1"}
    assert theirs[CONVERSATION] == "theirs"
    assert CONVERSATION not in database


# -- the option and its variable ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("true", True, id="true"),
        pytest.param(" True ", True, id="case-and-spaces"),
        pytest.param("false", False, id="false"),
        pytest.param("", False, id="empty"),
    ],
)
def test_the_variable(value: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FLAG, value)
    span_processor, log_processor = SessionSpanProcessor(), SessionLogRecordProcessor()
    assert span_processor.conversation_id_from_session is expected
    assert log_processor.conversation_id_from_session is expected
    provider, exporter = spans_with(span_processor)
    with session_context(session_id="conv-1"):
        start_and_end(provider, CHAT)
    assert (CONVERSATION in exported(exporter)) is expected


def test_the_argument_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FLAG, "true")
    assert (
        SessionSpanProcessor(conversation_id_from_session=False).conversation_id_from_session
        is False
    )
    monkeypatch.setenv(FLAG, "false")
    assert SessionLogRecordProcessor(conversation_id_from_session=True).conversation_id_from_session


def test_a_bad_value_is_logged_once_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(FLAG, "yes-please")
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        processors = [SessionSpanProcessor(), SessionLogRecordProcessor(), SessionSpanProcessor()]
    assert not any(p.conversation_id_from_session for p in processors)
    lines = [r.getMessage() for r in caplog.records if FLAG in r.getMessage()]
    assert lines == [f"{FLAG}='yes-please' is ignored (expected true or false): "
                     "no conversation id from the session"]  # fmt: skip


@pytest.mark.parametrize("owner", [SessionSpanProcessor, SessionLogRecordProcessor])
@pytest.mark.parametrize("value", ["true", 1, "yes"])
def test_a_wrong_argument_is_refused_naming_it(owner: Any, value: object) -> None:
    with pytest.raises(
        TypeError, match=rf"{owner.__name__}: conversation_id_from_session .*{value!r}"
    ):
        owner(conversation_id_from_session=value)


def test_the_handler_refuses_a_wrong_argument_too() -> None:
    with pytest.raises(TypeError, match=r"TelemetryHandler: conversation_id_from_session"):
        TelemetryHandler(conversation_id_from_session="true")  # type: ignore[arg-type]


# -- our handler, beside the processor ---------------------------------------------------


@pytest.mark.parametrize(
    ("handler_option", "processor_option"),
    [(True, False), (False, True), (True, True)],
    ids=["handler", "processor", "both"],
)
def test_handler_and_processor_agree(handler_option: bool, processor_option: bool) -> None:
    """Either switch gives a handler's model-call span the same conversation id:
    the invocation's session id."""
    provider, exporter = spans_with(
        SessionSpanProcessor(conversation_id_from_session=processor_option)
    )
    handler = TelemetryHandler(provider, conversation_id_from_session=handler_option)
    with session_context(session_id="in-effect"):
        with handler.llm(LLMInvocation(request_model="m")):
            pass
        with handler.llm(LLMInvocation(request_model="n", session_id="explicit")):
            pass
    by_name = {span.name: attrs(span) for span in exporter.get_finished_spans()}
    assert by_name["chat m"][CONVERSATION] == "in-effect"
    assert by_name["chat n"][CONVERSATION] == by_name["chat n"]["session.id"] == "explicit"


def test_a_step_is_no_genai_span_for_the_processor() -> None:
    """Steps carry no gen_ai.* attribute (the conventions define no operation for
    them): only the handler's own switch gives them a conversation id."""
    provider, exporter = spans_with(SessionSpanProcessor(conversation_id_from_session=True))
    with session_context(session_id="conv-1"), TelemetryHandler(provider).step(Step(name="plan")):
        pass
    assert CONVERSATION not in exported(exporter)


# -- log records -------------------------------------------------------------------------


def emit_records(processor: SessionLogRecordProcessor) -> list[Mapping[str, Any]]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(processor)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("an.instrumentation")
    with session_context(session_id="conv-1"):
        for name, attributes in (
            ("gen_ai.client.inference.operation.details", {"gen_ai.operation.name": "chat"}),
            ("gen_ai.client.inference.operation.details", {CONVERSATION: "theirs"}),
            ("gen_ai.user.message", {"session.id": "own"}),
            ("app.audit", {}),
            (None, {}),
        ):
            logger.emit(LogRecord(event_name=name, attributes=attributes, body="x"))
    provider.shutdown()
    return [dict(data.log_record.attributes or {}) for data in exporter.get_finished_logs()]


def test_log_records_off_by_default() -> None:
    records = emit_records(SessionLogRecordProcessor())
    assert [r.get(CONVERSATION) for r in records] == [None, "theirs", None, None, None]
    assert [r["session.id"] for r in records] == ["conv-1", "conv-1", "own", "conv-1", "conv-1"]


def test_log_records_genai_events_only_and_never_replacing() -> None:
    records = emit_records(SessionLogRecordProcessor(conversation_id_from_session=True))
    assert [r.get(CONVERSATION) for r in records] == ["conv-1", "theirs", "own", None, None]


# -- zero code ---------------------------------------------------------------------------

ZERO_CODE = """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.instrumentor import GenAISessionInstrumentor

exporter = InMemorySpanExporter()
provider = TracerProvider()
GenAISessionInstrumentor().instrument(tracer_provider=provider)
provider.add_span_processor(SimpleSpanProcessor(exporter))
with session_context(session_id="conv-7"):
    attributes = {"gen_ai.operation.name": "chat"}
    provider.get_tracer("t").start_span("chat", attributes=attributes).end()
print(exporter.get_finished_spans()[0].attributes.get("gen_ai.conversation.id"))
"""


@pytest.mark.parametrize(("value", "expected"), [("true", "conv-7"), (None, "None")])
def test_the_zero_code_instrumentor_reads_the_variable(value: str | None, expected: str) -> None:
    env = child_environment({FLAG: value} if value else {})
    result = subprocess.run(
        [sys.executable, "-c", ZERO_CODE],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_record_emitted_without_attributes_gets_the_ids() -> None:
    """The SDK gives such a record an empty (falsy) attribute mapping: the ids go into it."""
    for processor in (
        SessionLogRecordProcessor(),
        SessionLogRecordProcessor(conversation_id_from_session=True),
    ):
        records = emit_records(processor)
        assert records[3] == records[4] == {"session.id": "conv-1"}


def test_the_genai_span_keys_are_the_conventions() -> None:
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

    from otel_genai_session import _conversation, attributes

    assert attributes.GEN_AI_CONVERSATION_ID == gen_ai.GEN_AI_CONVERSATION_ID
    assert _conversation.GENAI_SPAN_KEYS == (
        gen_ai.GEN_AI_OPERATION_NAME,
        gen_ai.GEN_AI_PROVIDER_NAME,
        gen_ai.GEN_AI_SYSTEM,  # deprecated, still sent by some instrumentations
    )
    for key in _conversation.GENAI_SPAN_KEYS:  # the spelled-out test agrees with the tuple
        assert _conversation.is_genai_span({key: "x"})
    assert not _conversation.is_genai_span({"gen_ai.request.model": "m"})


def test_the_instrumentors_switch_holds_with_the_option_on() -> None:
    """uninstrument() switches off the processors instrument() added: with the
    option on too, a switched-off processor adds nothing."""
    from otel_genai_session._switchable import SwitchableSpanProcessor

    processor = SwitchableSpanProcessor(conversation_id_from_session=True)
    provider, exporter = spans_with(processor)
    with session_context(session_id="conv-1"):
        processor.active = False
        start_and_end(provider, CHAT)
        processor.active = True
        start_and_end(provider, CHAT)
    off, on = (attrs(span) for span in exporter.get_finished_spans())
    assert off == CHAT
    assert on == {**CHAT, "session.id": "conv-1", CONVERSATION: "conv-1"}
