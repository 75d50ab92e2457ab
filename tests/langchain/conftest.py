"""Fixtures for the LangChain tests: a per-call handler and the global switch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("langchain_core")  # the whole directory needs the "langchain" extra

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from otel_genai_session import _validation
from otel_genai_session.langchain import (
    OpenTelemetryCallbackHandler,
    installed_handler,
    instrument_langchain,
    uninstrument_langchain,
)


@pytest.fixture
def meter_provider(metric_reader: InMemoryMetricReader) -> MeterProvider:
    return MeterProvider(metric_readers=[metric_reader])


@pytest.fixture
def otel_handler(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> OpenTelemetryCallbackHandler:
    """The per-call form: pass it in ``config={"callbacks": [...]}``."""
    return OpenTelemetryCallbackHandler(tracer_provider, meter_provider)


@pytest.fixture
def instrumented(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Iterator[OpenTelemetryCallbackHandler]:
    """The global form, with the test's providers; always undone."""
    assert installed_handler() is None, "a test left LangChain instrumented"
    handler = instrument_langchain(tracer_provider, meter_provider)
    try:
        yield handler
    finally:
        uninstrument_langchain()


@pytest.fixture
def fresh_warnings() -> Iterator[None]:
    """Warnings are logged once per cause: forget earlier ones so a test sees its own."""
    _validation._reported.clear()
    yield
    _validation._reported.clear()
