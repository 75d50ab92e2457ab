"""The official GenAI stack, set up as an application would, with in-memory exporters.

This folder runs only in ``.venv-official`` (the core beside
``opentelemetry-instrumentation-genai-openai``, ``opentelemetry-util-genai``
and ``openai``; never compat): ``python3 tasks.py test`` runs it there with
``pytest tests/official``, and the main configuration ignores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from otel_genai_session import SessionLogRecordProcessor, SessionSpanProcessor
from tests.examples.conftest import run_python  # noqa: F401  (a fixture, for test_demo)

# span_and_event: the messages on the chat span and on the
# gen_ai.client.inference.operation.details event (off by default upstream too).
CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@dataclass
class Telemetry:
    """Providers with our processors first, and what they exported."""

    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter
    metrics: InMemoryMetricReader


def make_telemetry(sampler: Sampler | None = None) -> Telemetry:
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    metrics = InMemoryMetricReader()
    tracer_provider = TracerProvider(sampler=sampler)
    tracer_provider.add_span_processor(SessionSpanProcessor())
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SessionLogRecordProcessor())
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    meter_provider = MeterProvider(metric_readers=[metrics])
    return Telemetry(tracer_provider, logger_provider, meter_provider, spans, logs, metrics)


@pytest.fixture
def telemetry() -> Telemetry:
    return make_telemetry()


@pytest.fixture
def instrumented(telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    """``OpenAIInstrumentor`` on ``telemetry``'s providers, content capture on."""
    monkeypatch.setenv(CAPTURE_CONTENT, "span_and_event")
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider,
        logger_provider=telemetry.logger_provider,
        meter_provider=telemetry.meter_provider,
    )
    try:
        yield telemetry
    finally:
        instrumentor.uninstrument()
        telemetry.tracer_provider.shutdown()
        telemetry.logger_provider.shutdown()
        telemetry.meter_provider.shutdown()
