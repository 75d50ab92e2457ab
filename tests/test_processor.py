"""SessionSpanProcessor: the ids on every span, never overwriting, never raising."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import _fastpaths as fastpaths
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.session import clear_session_context, session_context, set_session_context

ALL_IDS = {"session.id": "s", "user.id": "u", "customer.id": "c"}


def attrs(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def provider_with(
    exporter: InMemorySpanExporter, limits: SpanLimits | None = None
) -> TracerProvider:
    provider = TracerProvider(span_limits=limits) if limits else TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_every_plain_span_in_a_session_gets_the_ids(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("any.instrumentation")
    with (
        session_context(session_id="s", user_id="u", customer_id="c"),
        tracer.start_as_current_span("server"),
    ):
        with tracer.start_as_current_span("db", attributes={"db.system": "postgresql"}):
            pass
        tracer.start_span("http").end()
    spans = {span.name: attrs(span) for span in exporter.get_finished_spans()}
    assert spans["server"] == ALL_IDS
    assert spans["http"] == ALL_IDS
    assert spans["db"] == {"db.system": "postgresql", **ALL_IDS}


def test_partial_session_sets_only_the_given_ids(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with session_context(customer_id="acme"):
        tracer_provider.get_tracer("t").start_span("x").end()
    assert attrs(exporter.get_finished_spans()[0]) == {"customer.id": "acme"}


def test_nothing_without_session_or_env(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("t")
    tracer.start_span("bare").end()
    tracer.start_span("own", attributes={"k": "v"}).end()
    spans = {span.name: attrs(span) for span in exporter.get_finished_spans()}
    assert spans == {"bare": {}, "own": {"k": "v"}}


def test_spans_after_the_session_ends_are_untouched(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("t")
    with session_context(session_id="s"):
        parent = tracer.start_span("started-inside")
    child_after = tracer.start_span("started-after")
    child_after.end()
    parent.end()
    spans = {span.name: attrs(span) for span in exporter.get_finished_spans()}
    assert spans == {"started-inside": {"session.id": "s"}, "started-after": {}}


def test_each_span_takes_the_session_in_effect_when_it_starts(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("t")
    with (
        tracer.start_as_current_span("outside"),
        session_context(session_id="s1"),
        tracer.start_as_current_span("first"),
        session_context(session_id="s2", user_id="u2"),
    ):
        tracer.start_span("second").end()
    spans = {span.name: attrs(span) for span in exporter.get_finished_spans()}
    assert spans == {
        "outside": {},
        "first": {"session.id": "s1"},
        "second": {"session.id": "s2", "user.id": "u2"},
    }


def test_manual_set_session_context_is_applied(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    token = set_session_context(session_id="manual", user_id="u")
    try:
        tracer_provider.get_tracer("t").start_span("x").end()
    finally:
        clear_session_context(token)
    assert attrs(exporter.get_finished_spans()[0]) == {"session.id": "manual", "user.id": "u"}


@pytest.mark.parametrize(
    ("start_attributes", "session", "expected"),
    [
        pytest.param(
            {"session.id": "from-span"},
            ALL_IDS,
            {"session.id": "from-span", "user.id": "u", "customer.id": "c"},
            id="keep-session",
        ),
        pytest.param(
            {"user.id": "span-user", "customer.id": "span-customer"},
            ALL_IDS,
            {"session.id": "s", "user.id": "span-user", "customer.id": "span-customer"},
            id="keep-two",
        ),
        pytest.param(
            {"session.id": "a", "user.id": "b", "customer.id": "d"},
            ALL_IDS,
            {"session.id": "a", "user.id": "b", "customer.id": "d"},
            id="keep-all",
        ),
    ],
)
def test_never_overwrites_values_the_span_started_with(
    start_attributes: dict[str, str],
    session: dict[str, str],
    expected: dict[str, str],
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    with session_context(session["session.id"], session["user.id"], session["customer.id"]):
        tracer_provider.get_tracer("t").start_span("x", attributes=start_attributes).end()
    assert attrs(exporter.get_finished_spans()[0]) == expected


def test_env_vars_are_the_fallback(
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_SESSION_ID", "env-s")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_USER_ID", "env-u")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID", "env-c")
    tracer = tracer_provider.get_tracer("t")
    tracer.start_span("env-only").end()
    with session_context(user_id="ctx-u"):
        tracer.start_span("mixed").end()
    with session_context("s", "u", "c"):
        tracer.start_span("session-wins").end()
    spans = {span.name: attrs(span) for span in exporter.get_finished_spans()}
    assert spans == {
        "env-only": {"session.id": "env-s", "user.id": "env-u", "customer.id": "env-c"},
        "mixed": {"session.id": "env-s", "user.id": "ctx-u", "customer.id": "env-c"},
        "session-wins": ALL_IDS,
    }


LIMIT_SOURCES = ["SpanLimits", "environment"]


@pytest.mark.parametrize(
    ("limit", "start_attributes", "expected"),
    [
        pytest.param(
            5,
            {"a": 1, "b": 2},
            {"a": 1, "b": 2, "session.id": "s", "user.id": "u", "customer.id": "c"},
            id="room-for-all",
        ),
        pytest.param(
            4,
            {"a": 1, "b": 2},
            {"a": 1, "b": 2, "session.id": "s", "user.id": "u"},
            id="room-for-two",
        ),
        pytest.param(3, {"a": 1, "b": 2}, {"a": 1, "b": 2, "session.id": "s"}, id="room-for-one"),
        pytest.param(2, {"a": 1, "b": 2}, {"a": 1, "b": 2}, id="full"),
        pytest.param(
            2,
            {"session.id": "own"},
            {"session.id": "own", "user.id": "u"},
            id="own-id-counts-once",
        ),
        pytest.param(2, {}, {"session.id": "s", "user.id": "u"}, id="no-own-limit-2"),
        pytest.param(1, {}, {"session.id": "s"}, id="no-own-limit-1"),
        pytest.param(0, {}, {}, id="limit-0"),
    ],
)
@pytest.mark.parametrize("source", LIMIT_SOURCES)
def test_span_attribute_limit_is_respected(
    source: str,
    limit: int,
    start_attributes: dict[str, Any],
    expected: dict[str, Any],
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if source == "environment":
        monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", str(limit))
        provider = provider_with(exporter)
    else:
        provider = provider_with(exporter, SpanLimits(max_span_attributes=limit))
    with caplog.at_level(logging.WARNING), session_context("s", "u", "c"):
        provider.get_tracer("t").start_span("x", attributes=start_attributes).end()
    (span,) = exporter.get_finished_spans()
    assert dict(attrs(span)) == expected  # nothing of the span's was evicted, on either path
    if fastpaths.ENABLED:  # the limit is read: the SDK never had to drop anything
        assert span.dropped_attributes == 0
        assert "Attributes dict is full" not in caplog.text
    elif len({*start_attributes, *ALL_IDS}) > limit > 0:
        # The public path learns the limit when the SDK drops, and puts the
        # evicted attribute back: two evictions counted (README, "Fast paths").
        assert span.dropped_attributes == 2


def test_unlimited_attributes(exporter: InMemorySpanExporter) -> None:
    provider = provider_with(exporter, SpanLimits(max_span_attributes=SpanLimits.UNSET))
    own = {f"k{i}": i for i in range(200)}
    with session_context("s", "u", "c"):
        provider.get_tracer("t").start_span("x", attributes=own).end()
    assert dict(attrs(exporter.get_finished_spans()[0])) == {**own, **ALL_IDS}


class _ExplodingSpan:
    """A span-like object whose attribute access or setting raises."""

    def __init__(self, fail_on: str) -> None:
        self.fail_on = fail_on

    @property
    def attributes(self) -> Mapping[str, Any]:
        if self.fail_on == "attributes":
            raise RuntimeError("attributes exploded")
        return {}

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        raise RuntimeError("set_attributes exploded")


@pytest.mark.parametrize("fail_on", ["attributes", "set_attributes"])
def test_never_raises(fail_on: str, caplog: pytest.LogCaptureFixture) -> None:
    processor = SessionSpanProcessor()
    span: Any = _ExplodingSpan(fail_on)
    with (
        caplog.at_level(logging.DEBUG, logger="otel_genai_session"),
        session_context("s", "u", "c"),
    ):
        processor.on_start(span)
        processor.on_start(span, parent_context=Context())
    assert [r.levelno for r in caplog.records] == [logging.DEBUG, logging.DEBUG]
    assert all(r.exc_info is not None for r in caplog.records)


def test_a_raising_span_does_not_break_the_provider(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = provider_with(exporter)

    def explode(self: Span, attributes: Mapping[str, Any]) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Span, "set_attributes", explode)
    with session_context("s"):
        provider.get_tracer("t").start_span("survives").end()
    assert [span.name for span in exporter.get_finished_spans()] == ["survives"]


def test_not_called_without_session_does_not_touch_the_span(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No session, no env ids: on_start returns before touching the span. The
    span raises on any read, and the processor logs what it swallows, so a
    touch shows up as a log record."""
    processor = SessionSpanProcessor()
    span: Any = _ExplodingSpan("attributes")
    with caplog.at_level(logging.DEBUG, logger="otel_genai_session"):
        processor.on_start(span)
        assert caplog.records == []
        with session_context("s"):  # the same span with a session: touched, swallowed, logged
            processor.on_start(span)
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_lifecycle_methods_are_trivial() -> None:
    processor = SessionSpanProcessor()
    processor.on_end(ReadableSpan(name="x"))
    assert processor.force_flush() is True
    assert processor.force_flush(timeout_millis=1) is True
    processor.shutdown()


def test_shutdown_provider(exporter: InMemorySpanExporter) -> None:
    provider = provider_with(exporter)
    provider.shutdown()  # must not raise or hang
