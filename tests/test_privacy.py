"""User-id pseudonymisation: user.hash (HMAC-SHA256) instead of user.id, everywhere."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from otel_genai_session import get_session_context, session_context
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_USER_ID,
    OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY,
)
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.logs import SessionLogFilter, SessionLogRecordProcessor
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.privacy import (
    disable_user_id_hashing,
    enable_user_id_hashing,
    user_id_attribute,
    user_id_hashing_enabled,
)
from otel_genai_session.types import LLMInvocation

RAW = "alice@example.com"
KEY = b"test-key"
EXPECTED = hmac.new(KEY, RAW.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def hashing() -> Iterator[None]:
    enable_user_id_hashing(KEY)
    yield
    disable_user_id_hashing()


@pytest.mark.usefixtures("hashing")
def test_raw_user_id_reaches_no_span_and_no_log_record(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter, handler: TelemetryHandler
) -> None:
    log_exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SessionLogRecordProcessor())
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    otel_handler = LoggingHandler(logger_provider=logger_provider)
    otel_handler.addFilter(SessionLogFilter())  # record attributes too: still no raw id
    log = logging.getLogger("test.privacy")
    log.addHandler(otel_handler)
    log.propagate = False
    tracer = tracer_provider.get_tracer("t")

    async def chat(request: Request) -> PlainTextResponse:
        assert get_session_context().user_id == RAW  # the app still sees the raw id
        with tracer.start_as_current_span("endpoint"):
            log.warning("answering")
            with handler.llm(LLMInvocation(request_model="m")) as call:
                call.output_tokens = 1
            handler.stop_llm(handler.start_llm(LLMInvocation(request_model="m2", user_id=RAW)))
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/chat", chat)])
    app.add_middleware(GenAISessionMiddleware)
    try:
        with TestClient(app) as client:
            assert client.get("/chat", headers={"X-User-ID": RAW}).status_code == 200
    finally:
        log.removeHandler(otel_handler)

    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    for span in spans:
        attributes = dict(span.attributes or {})
        assert attributes["user.hash"] == EXPECTED
        assert "user.id" not in attributes
        assert RAW not in repr(attributes)
    (record,) = log_exporter.get_finished_logs()
    assert record.log_record.attributes is not None
    assert record.log_record.attributes["user.hash"] == EXPECTED
    assert RAW not in repr(dict(record.log_record.attributes))
    assert RAW not in str(record.log_record.body)


def test_same_user_same_hash_across_sessions_and_env(
    hashing: None,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracer = tracer_provider.get_tracer("t")
    with session_context(session_id="a", user_id=RAW):
        tracer.start_span("first").end()
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_USER_ID, RAW)
    tracer.start_span("from-env").end()
    hashes = {dict(s.attributes or {})["user.hash"] for s in exporter.get_finished_spans()}
    assert hashes == {EXPECTED}


def test_off_by_default_and_key_required(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not user_id_hashing_enabled()
    monkeypatch.delenv(OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY, raising=False)
    with pytest.raises(ValueError, match=OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY):
        enable_user_id_hashing()
    assert not user_id_hashing_enabled()


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY, KEY.decode())
    enable_user_id_hashing()
    try:
        with session_context(user_id=RAW) as session:
            assert session.attributes == {"user.hash": EXPECTED}
    finally:
        disable_user_id_hashing()


def test_the_hash_cache_is_bounded_in_bytes(hashing: None) -> None:
    """Ids a middleware let through at any length never grow the cache: only
    short ids are kept with their hash."""
    from otel_genai_session import privacy

    privacy._hash.cache_clear()
    long_ids = [f"{index}-" + "u" * 5000 for index in range(50)]
    for user_id in long_ids:
        key, value = user_id_attribute(user_id)
        assert key == "user.hash"
        assert value == hmac.new(KEY, user_id.encode(), hashlib.sha256).hexdigest()
    assert privacy._hash.cache_info().currsize == 0
    assert user_id_attribute(RAW)[1] == EXPECTED
    assert privacy._hash.cache_info().currsize == 1
