"""The one id rule: what is kept, what is dropped, and how drops are reported."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import _validation
from otel_genai_session._validation import (
    DEFAULT_MAX_ID_LENGTH,
    DROPPED_ID,
    EMPTY,
    NOT_PRINTABLE,
    NOT_TEXT,
    TOO_LONG,
    clean_id,
    warn_once,
)
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.session import (
    SessionContext,
    clear_session_context,
    get_session_context,
    resolve_session,
    session_context,
    set_session_context,
)
from otel_genai_session.types import LLMInvocation

LOGGER = "otel_genai_session"


@pytest.fixture
def reported() -> Iterator[None]:
    """A fresh warn-once registry, so a test sees the first report of each cause."""
    _validation._reported.clear()
    yield
    _validation._reported.clear()


class _NoneLike:
    def __str__(self) -> str:
        return "None"

    def __bool__(self) -> bool:
        return False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("conv-123", "conv-123", id="plain"),
        pytest.param("  conv-123\t", "conv-123", id="stripped"),
        pytest.param("abc\n", "abc", id="trailing-newline-stripped"),
        pytest.param("a b", "a b", id="inner-space"),
        pytest.param("café-ü-日本", "café-ü-日本", id="non-ascii-printable"),
        pytest.param(42, "42", id="int"),
        pytest.param(0, "0", id="zero"),
        pytest.param(-7, "-7", id="negative-int"),
        pytest.param(
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "12345678-1234-5678-1234-567812345678",
            id="uuid",
        ),
        pytest.param("x" * 199, "x" * 199, id="199-chars"),
        pytest.param("x" * 200, "x" * 200, id="200-chars"),
        pytest.param(" " + "x" * 200 + " ", "x" * 200, id="200-after-strip"),
        pytest.param(None, None, id="none"),
    ],
)
def test_clean_id_keeps_valid_values(value: object, expected: str | None) -> None:
    assert clean_id(value, "session_id", "test") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(True, NOT_TEXT, id="bool-true"),
        pytest.param(False, NOT_TEXT, id="bool-false"),
        pytest.param(1.5, NOT_TEXT, id="float"),
        pytest.param(float("nan"), NOT_TEXT, id="nan"),
        pytest.param(["a"], NOT_TEXT, id="list"),
        pytest.param(("a",), NOT_TEXT, id="tuple"),
        pytest.param({"id": "a"}, NOT_TEXT, id="dict"),
        pytest.param(b"abc", NOT_TEXT, id="bytes"),
        pytest.param(_NoneLike(), NOT_TEXT, id="none-like-object"),
        pytest.param(Ellipsis, NOT_TEXT, id="ellipsis"),
        pytest.param(object(), NOT_TEXT, id="object"),
        pytest.param("", EMPTY, id="empty"),
        pytest.param("   \t\n ", EMPTY, id="whitespace-only"),
        pytest.param("x" * 201, TOO_LONG % DEFAULT_MAX_ID_LENGTH, id="201-chars"),
        pytest.param(10**300, TOO_LONG % DEFAULT_MAX_ID_LENGTH, id="int-too-long"),
        pytest.param(10**5000, TOO_LONG % DEFAULT_MAX_ID_LENGTH, id="int-beyond-str-limit"),
        pytest.param("a\rb", NOT_PRINTABLE, id="cr"),
        pytest.param("a\nb", NOT_PRINTABLE, id="lf"),
        pytest.param("a\r\nb", NOT_PRINTABLE, id="crlf"),
        pytest.param("a\x00b", NOT_PRINTABLE, id="nul"),
        pytest.param("\x00abc", NOT_PRINTABLE, id="leading-nul"),
        pytest.param("a\x1bb", NOT_PRINTABLE, id="escape"),
        pytest.param("a\x7fb", NOT_PRINTABLE, id="del"),
        pytest.param("a\tb", NOT_PRINTABLE, id="inner-tab"),
        pytest.param("user\u202egpj.exe", NOT_PRINTABLE, id="bidi-override"),
        pytest.param("a\u200bb", NOT_PRINTABLE, id="zero-width-space"),
        pytest.param("a\ufeffb", NOT_PRINTABLE, id="bom"),
        pytest.param("a\ud800b", NOT_PRINTABLE, id="lone-surrogate"),
        pytest.param("\ud800", NOT_PRINTABLE, id="only-surrogate"),
        pytest.param("a\ue000b", NOT_PRINTABLE, id="private-use"),
        pytest.param("a\u00a0b", NOT_PRINTABLE, id="nbsp-inside"),
    ],
)
def test_clean_id_drops_invalid_values_with_one_warning(
    value: object, reason: str, reported: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert clean_id(value, "user_id", "the test") is None
        assert clean_id(value, "user_id", "the test") is None
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert records[0].getMessage() == DROPPED_ID % ("user_id", "the test", reason)


def test_clean_id_honours_a_custom_max_length() -> None:
    assert clean_id("abcd", "session_id", "test", max_length=4) == "abcd"
    assert clean_id("abcde", "session_id", "test", max_length=4) is None


def test_int_to_string_limit_never_raises() -> None:
    # str(10**5000) raises ValueError on Python >= 3.11; the rule must not.
    assert clean_id(10**5000, "session_id", "test") is None
    assert clean_id(-(10**5000), "session_id", "test") is None


def test_warning_never_contains_the_raw_value(
    reported: None, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "SECRET-TOKEN\r\nINJECTED LOG LINE"
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        clean_id(secret, "session_id", "header X-Session-ID")
        clean_id("SECRET-TOKEN" * 50, "session_id", "header X-Session-ID")
        clean_id(["SECRET-TOKEN"], "session_id", "header X-Session-ID")
    assert len(caplog.records) == 3
    for record in caplog.records:
        message = record.getMessage()
        assert "SECRET" not in message
        assert "INJECTED" not in message
        assert "\n" not in message and "\r" not in message
        assert "session_id" in message and "header X-Session-ID" in message
    assert "SECRET" not in caplog.text


def test_warn_once_per_cause(reported: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(5):
            clean_id("a\nb", "session_id", "src-1")
            clean_id("c\nd", "session_id", "src-1")  # another value, same cause
        clean_id("a\nb", "user_id", "src-1")  # another field
        clean_id("a\nb", "session_id", "src-2")  # another source
        clean_id("x" * 300, "session_id", "src-1")  # another reason
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        DROPPED_ID % ("session_id", "src-1", NOT_PRINTABLE),
        DROPPED_ID % ("user_id", "src-1", NOT_PRINTABLE),
        DROPPED_ID % ("session_id", "src-2", NOT_PRINTABLE),
        DROPPED_ID % ("session_id", "src-1", TOO_LONG % DEFAULT_MAX_ID_LENGTH),
    ]


def test_warn_once_is_thread_safe(reported: None, caplog: pytest.LogCaptureFixture) -> None:
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(200):
            warn_once("concurrent %s", "cause")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert [r.getMessage() for r in caplog.records] == ["concurrent cause"]


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.one_of(
        st.text(max_size=260),
        st.integers(),
        st.floats(),
        st.booleans(),
        st.none(),
        st.binary(max_size=20),
        st.lists(st.text(max_size=3), max_size=3),
        st.uuids(),
    )
)
def test_clean_id_never_raises_and_returns_only_valid_ids(value: object) -> None:
    result = clean_id(value, "session_id", "hypothesis")
    if result is not None:
        assert isinstance(result, str)
        assert result == result.strip()
        assert 1 <= len(result) <= DEFAULT_MAX_ID_LENGTH
        assert result.isprintable()
    if isinstance(value, str):
        stripped = value.strip()
        valid = 1 <= len(stripped) <= DEFAULT_MAX_ID_LENGTH and stripped.isprintable()
        assert result == (stripped if valid else None)


# -- the same rule at every entry point -------------------------------------------


def _via_session_context(value: object) -> str | None:
    with session_context(session_id=value) as session:  # type: ignore[arg-type]
        return session.session_id


def _via_set_session_context(value: object) -> str | None:
    token = set_session_context(session_id=value)  # type: ignore[arg-type]
    try:
        return get_session_context().session_id
    finally:
        clear_session_context(token)


def _via_session_context_class(value: object) -> str | None:
    return SessionContext(session_id=value).session_id  # type: ignore[arg-type]


def _via_invocation(value: object) -> str | None:
    return LLMInvocation(request_model="m", session_id=value).session_id  # type: ignore[arg-type]


def _via_resolve(value: object) -> str | None:
    return resolve_session(session_id=value).session_id


ENTRY_POINTS = [
    pytest.param(_via_session_context, id="session_context"),
    pytest.param(_via_set_session_context, id="set_session_context"),
    pytest.param(_via_session_context_class, id="SessionContext"),
    pytest.param(_via_invocation, id="invocation-field"),
    pytest.param(_via_resolve, id="resolve_session"),
]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("  s-1 ", "s-1", id="stripped"),
        pytest.param(7, "7", id="int"),
        pytest.param("x" * 200, "x" * 200, id="200"),
        pytest.param("x" * 201, None, id="201"),
        pytest.param("a\r\nb", None, id="crlf"),
        pytest.param("a\u202eb", None, id="bidi"),
        pytest.param(True, None, id="bool"),
        pytest.param(2.5, None, id="float"),
        pytest.param(["s"], None, id="list"),
        pytest.param("", None, id="empty"),
    ],
)
def test_every_entry_point_applies_the_same_rule(
    entry: Callable[[object], str | None],
    value: object,
    expected: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert entry(value) == expected  # never raises


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("  env-session  ", "env-session", id="stripped"),
        pytest.param("x" * 200, "x" * 200, id="200"),
        pytest.param("x" * 201, None, id="201"),
        pytest.param("bad\x01value", None, id="control"),
        pytest.param("bad\u200bvalue", None, id="zero-width"),
        pytest.param("", None, id="empty"),
    ],
)
def test_environment_variables_follow_the_rule(
    raw: str,
    expected: str | None,
    monkeypatch: pytest.MonkeyPatch,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    reported: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_SESSION_ID", raw)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        tracer_provider.get_tracer("t").start_span("plain").end()
        tracer_provider.get_tracer("t").start_span("plain").end()
    for span in exporter.get_finished_spans():
        assert (span.attributes or {}).get("session.id") == expected
    if expected is None:
        assert len(caplog.records) == 1
        message = caplog.records[0].getMessage()
        assert "OTEL_INSTRUMENTATION_GENAI_SESSION_ID" in message
        assert "bad" not in message
    else:
        assert caplog.records == []


def test_invalid_invocation_field_is_dropped_not_raised(
    handler: TelemetryHandler,
    exporter: InMemorySpanExporter,
    reported: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER),
        handler.llm(
            LLMInvocation(request_model="m", user_id="evil\r\nuser", customer_id="acme")
        ) as inv,
    ):
        assert inv.user_id is None
        assert inv.customer_id == "acme"
    (span,) = exporter.get_finished_spans()
    attributes = span.attributes or {}
    assert "user.id" not in attributes
    assert attributes["customer.id"] == "acme"
    assert "evil" not in caplog.text
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
