"""Shared fixtures: a real SDK TracerProvider/MeterProvider with in-memory readers.

Also marks each cross-cutting suite's tests with the suite's name (see SUITES).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import _tenant_trust, get_session_context
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID,
    OTEL_INSTRUMENTATION_GENAI_SESSION_ID,
    OTEL_INSTRUMENTATION_GENAI_USER_ID,
)
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.processor import SessionSpanProcessor

SUITES: frozenset[str] = frozenset(
    ("hostile", "ecosystem", "official", "phoenix", "zerocode", "examples", "bench")
)
"""The folders of tests/ that are suites across src/, not mirrors of a module:
each one's tests carry its name as a marker (registered in pyproject.toml)."""

TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.resolve()
        parts = path.relative_to(TESTS).parts if path.is_relative_to(TESTS) else ()
        if len(parts) > 1 and parts[0] in SUITES:
            item.add_marker(parts[0])


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees env-var ids it did not set, and none leaves a session behind."""
    for name in (
        OTEL_INSTRUMENTATION_GENAI_SESSION_ID,
        OTEL_INSTRUMENTATION_GENAI_USER_ID,
        OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID,
    ):
        monkeypatch.delenv(name, raising=False)
    # A sampler with customer_ratios in one test must not make another test's
    # middleware warn about client-chosen tenants.
    monkeypatch.setattr(_tenant_trust, "_ratios", False)
    monkeypatch.setattr(_tenant_trust, "_client_sources", [])
    before = get_session_context()
    yield
    assert get_session_context() == before, "a session leaked out of the test"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> TracerProvider:
    """SDK provider with the session processor first, then the exporter."""
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def handler(
    tracer_provider: TracerProvider, metric_reader: InMemoryMetricReader
) -> TelemetryHandler:
    return TelemetryHandler(tracer_provider, MeterProvider(metric_readers=[metric_reader]))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
