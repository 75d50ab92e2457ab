"""Session properties (issue 24, item 1): a small immutable mapping carried by the
session, inherited per key, bounded, exported on every span and log record."""

from __future__ import annotations

import copy
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import session_context
from otel_genai_session.attributes import DEFAULT_PROPERTY_PREFIX, PROPERTY_PREFIX
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_SESSION_ID,
    OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX,
)
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.logs import SessionLogRecordProcessor
from otel_genai_session.session import (
    EMPTY_SESSION,
    MAX_PROPERTIES,
    MAX_PROPERTY_KEY_LENGTH,
    SessionContext,
    SessionProperties,
    clear_session_context,
    get_session_context,
    set_session_context,
)
from otel_genai_session.types import LLMInvocation

SECRET = "s3cret-client-bytes"


def attrs(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def prop(key: str) -> str:
    return PROPERTY_PREFIX + key


def test_the_default_prefix_is_our_own_namespace() -> None:
    assert DEFAULT_PROPERTY_PREFIX == "otel_genai_session.property."
    assert PROPERTY_PREFIX == DEFAULT_PROPERTY_PREFIX  # the suite runs without the variable


def test_properties_are_empty_by_default_and_read_only() -> None:
    assert get_session_context().properties == {}
    session = SessionContext("conv-1", properties={"experiment": "b"})
    assert session.properties == {"experiment": "b"}
    assert isinstance(session.properties, Mapping)
    with pytest.raises(TypeError):
        session.properties["experiment"] = "a"  # type: ignore[index]
    with pytest.raises(TypeError):
        session.properties.update(x="y")  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        del session.properties["experiment"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        session.properties = {}  # type: ignore[misc]


def test_the_caller_changing_its_dict_changes_nothing() -> None:
    given = {"experiment": "b"}
    session = SessionContext(properties=given)
    scope = session_context(properties=given)
    given["experiment"] = "a"
    assert session.properties == {"experiment": "b"}
    with scope as entered:
        assert entered.properties == {"experiment": "b"}


def test_properties_are_part_of_the_value() -> None:
    a = SessionContext("conv-1", properties={"x": "1", "y": "2"})
    b = SessionContext("conv-1", properties={"y": "2", "x": "1"})
    c = SessionContext("conv-1", properties={"x": "1"})
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert SessionContext("conv-1") == SessionContext("conv-1", properties={})
    assert len({a, b, c}) == 2
    for clone in (copy.copy, copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))):
        copied = clone(a)
        assert copied == a and hash(copied) == hash(a)
        assert copied.attributes == a.attributes
        assert type(copied.properties) is SessionProperties


def test_values_are_coerced_like_the_ids() -> None:
    session = SessionContext(properties={"n": 7, "padded": "  b  "})
    assert session.properties == {"n": "7", "padded": "b"}


def test_properties_are_exported_under_the_prefix_next_to_the_ids() -> None:
    session = SessionContext("conv-1", "alice", properties={"experiment": "b", "app.version": "3"})
    assert dict(session.attributes) == {
        "session.id": "conv-1",
        "user.id": "alice",
        prop("experiment"): "b",
        prop("app.version"): "3",
    }
    assert not SessionContext(properties={"a": "b"}).is_empty()
    assert SessionContext().is_empty()


def test_nested_sessions_inherit_and_override_per_key() -> None:
    with session_context(session_id="conv-1", properties={"experiment": "b", "channel": "web"}):
        with session_context(user_id="alice", properties={"channel": "app", "plan": "pro"}) as s:
            assert s.session_id == "conv-1"
            assert s.properties == {"experiment": "b", "channel": "app", "plan": "pro"}
            with session_context(properties={"experiment": None}) as inner:
                assert inner.properties == {"channel": "app", "plan": "pro"}
                assert prop("experiment") not in inner.attributes
            with session_context(user_id="bob") as plain:
                assert plain.properties == s.properties  # none given: all inherited
        assert get_session_context().properties == {"experiment": "b", "channel": "web"}
    assert get_session_context() is EMPTY_SESSION


def test_an_invalid_value_keeps_the_inherited_one() -> None:
    outer = session_context(properties={"experiment": "b"})
    with outer, session_context(properties={"experiment": "x" * 201}) as inner:
        assert inner.properties == {"experiment": "b"}


def test_set_session_context_replaces_the_properties() -> None:
    with session_context(properties={"experiment": "b"}):
        token = set_session_context(session_id="conv-2", properties={"plan": "pro"})
        try:
            assert get_session_context().properties == {"plan": "pro"}
        finally:
            clear_session_context(token)
        assert get_session_context().properties == {"experiment": "b"}


def test_resume_puts_back_exactly_the_properties() -> None:
    captured = SessionContext("conv-1", properties={"experiment": "b"})
    outer = session_context(properties={"other": "x", "experiment": "a"})
    with outer, session_context.resume(pickle.loads(pickle.dumps(captured))) as resumed:
        assert resumed.properties == {"experiment": "b"}


@pytest.mark.parametrize(
    "key",
    [
        "",
        "has space",
        "a" * (MAX_PROPERTY_KEY_LENGTH + 1),
        ".leading",
        "trailing.",
        "two..dots",
        "ünïcode",
        "semi;colon",
        "line\nbreak",
        7,
        None,
    ],
)
def test_a_key_outside_the_character_set_is_dropped_and_never_echoed(
    key: object, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_genai_session import _validation

    _validation._reported.clear()
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        session = SessionContext(properties={key: SECRET, "kept": "v"})  # type: ignore[dict-item]
    assert session.properties == {"kept": "v"}
    assert "Dropped a property from SessionContext" in caplog.text
    assert SECRET not in caplog.text
    assert isinstance(key, str) is False or not key or key not in caplog.text


def test_the_longest_key_and_value_are_kept() -> None:
    key = "k" * MAX_PROPERTY_KEY_LENGTH
    session = SessionContext(properties={key: "v" * 200, "a-b_c.D9": "x"})
    assert session.properties == {key: "v" * 200, "a-b_c.D9": "x"}


def test_bad_values_are_dropped_once_per_cause_without_echo(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from otel_genai_session import _validation

    _validation._reported.clear()
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        for index in range(5):
            session = SessionContext(
                properties={
                    f"zqa{index}": SECRET * 50,
                    f"zqb{index}": SECRET + "\x1b[31m",
                    f"zqc{index}": object(),
                    "ok": "fine",
                }
            )
            assert session.properties == {"ok": "fine"}
    assert SECRET not in caplog.text
    assert "zq" not in caplog.text
    assert len(caplog.records) == 3  # one per cause, not one per key or per call


def test_at_most_max_properties_first_come_first_kept(caplog: pytest.LogCaptureFixture) -> None:
    from otel_genai_session import _validation

    _validation._reported.clear()
    given = {f"k{index}": str(index) for index in range(MAX_PROPERTIES + 5)}
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        session = SessionContext(properties=given)
    assert list(session.properties) == [f"k{index}" for index in range(MAX_PROPERTIES)]
    assert f"more than {MAX_PROPERTIES} properties" in caplog.text
    full = {f"k{index}": "x" for index in range(MAX_PROPERTIES)}
    with session_context(properties=full):
        with session_context(properties={"k0": "new", "extra": "dropped"}) as inner:
            assert inner.properties["k0"] == "new"  # an override always fits
            assert "extra" not in inner.properties
        with session_context(properties={"k0": None, "extra": "fits"}) as inner:
            assert "extra" in inner.properties and "k0" not in inner.properties


def test_a_non_mapping_is_ignored_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        session = SessionContext("conv-1", properties=["experiment"])  # type: ignore[arg-type]
    assert session.properties == {}
    assert session.session_id == "conv-1"


def test_every_span_of_the_session_carries_the_properties(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("any")
    with session_context(session_id="conv-1", properties={"experiment": "b"}):
        with tracer.start_as_current_span("outer"), tracer.start_as_current_span("inner"):
            pass
        with session_context(properties={"experiment": "c", "plan": "pro"}):
            tracer.start_span("nested").end()
    tracer.start_span("outside").end()
    spans = {span.name: attrs(span) for span in exporter.get_finished_spans()}
    assert spans["outer"][prop("experiment")] == "b"
    assert spans["inner"][prop("experiment")] == "b"
    assert spans["nested"][prop("experiment")] == "c"
    assert spans["nested"][prop("plan")] == "pro"
    assert not any(key.startswith(PROPERTY_PREFIX) for key in spans["outside"])


def test_a_span_keeps_its_own_value_of_a_property_attribute(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("any")
    with session_context(properties={"experiment": "b"}):
        tracer.start_span("own", attributes={prop("experiment"): "mine"}).end()
    (span,) = exporter.get_finished_spans()
    assert attrs(span)[prop("experiment")] == "mine"


def test_environment_ids_fill_a_session_that_has_properties(
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three keys in the attributes are not three ids: the env var still fills."""
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_SESSION_ID, "from-env")
    tracer = tracer_provider.get_tracer("any")
    with session_context(user_id="alice", properties={"a": "1"}):
        tracer.start_span("s").end()
    (span,) = exporter.get_finished_spans()
    assert attrs(span)["session.id"] == "from-env"
    assert attrs(span)["user.id"] == "alice"
    assert attrs(span)[prop("a")] == "1"


def test_log_records_carry_the_properties() -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SessionLogRecordProcessor())
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("test.properties")
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with session_context(session_id="conv-1", properties={"experiment": "b"}):
            logger.warning("event")
    finally:
        logger.removeHandler(handler)
    (record,) = exporter.get_finished_logs()
    attributes = dict(record.log_record.attributes or {})
    assert attributes[prop("experiment")] == "b"
    assert attributes["session.id"] == "conv-1"


def _import_with_prefix(value: str) -> subprocess.CompletedProcess[str]:
    code = (
        "from otel_genai_session import SessionContext\n"
        "print(dict(SessionContext(properties={'experiment': 'b'}).attributes))\n"
    )
    env = {**os.environ, OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX: value}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        ("gen_ai.association.properties", "gen_ai.association.properties."),
        ("langfuse.trace.metadata.", "langfuse.trace.metadata."),
        (" myapp ", "myapp."),
    ],
)
def test_the_prefix_is_configurable(value: str, prefix: str) -> None:
    result = _import_with_prefix(value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr({prefix + "experiment": "b"})


@pytest.mark.parametrize(
    "value", ["session.", "user.extra", "otel.x", "Upper.case", "two..dots", "a b", "x" * 70]
)
def test_a_bad_prefix_fails_at_import_naming_the_variable(value: str) -> None:
    result = _import_with_prefix(value)
    assert result.returncode != 0
    assert "ValueError" in result.stderr
    assert OTEL_INSTRUMENTATION_GENAI_SESSION_PROPERTY_PREFIX in result.stderr


# -- the handler: its spans carry them; metrics only through the allow-list ---------


def _metric_points(reader: InMemoryMetricReader) -> list[dict[str, Any]]:
    data = reader.get_metrics_data()
    found: list[dict[str, Any]] = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found += [dict(point.attributes or {}) for point in metric.data.data_points]
    return found


def test_handler_spans_start_with_the_properties_and_metrics_do_not_get_them(
    exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()  # no SessionSpanProcessor: the handler's own doing
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = TelemetryHandler(provider, MeterProvider(metric_readers=[metric_reader]))
    with (
        session_context(session_id="conv-1", properties={"experiment": "b"}),
        handler.llm(LLMInvocation(request_model="m", input_tokens=3)),
    ):
        pass
    (span,) = exporter.get_finished_spans()
    assert attrs(span)[prop("experiment")] == "b"
    points = _metric_points(metric_reader)
    assert points
    assert not any(key.startswith(PROPERTY_PREFIX) for point in points for key in point)


def test_a_property_reaches_metrics_only_when_allow_listed(
    tracer_provider: TracerProvider, metric_reader: InMemoryMetricReader
) -> None:
    handler = TelemetryHandler(
        tracer_provider,
        MeterProvider(metric_readers=[metric_reader]),
        session_metric_attributes=[prop("experiment")],
    )
    with (
        session_context(session_id="conv-1", properties={"experiment": "b", "plan": "pro"}),
        handler.llm(LLMInvocation(request_model="m", input_tokens=3)),
    ):
        pass
    points = _metric_points(metric_reader)
    assert points
    for point in points:
        assert point[prop("experiment")] == "b"
        assert prop("plan") not in point and "session.id" not in point


@pytest.mark.parametrize(
    "name", ["experiment", PROPERTY_PREFIX + "bad key", PROPERTY_PREFIX, "session.property.x"]
)
def test_an_unknown_metric_attribute_fails_at_construction(
    name: str, tracer_provider: TracerProvider
) -> None:
    with pytest.raises(ValueError, match="session_metric_attributes"):
        TelemetryHandler(tracer_provider, session_metric_attributes=[name])
