"""The demo's telemetry set-up: what you would write once in your own service.

- a ``Resource`` naming the service and, for Arize Phoenix, its project
  (``openinference.project.name``);
- a ``TracerProvider`` with ``SessionSpanProcessor`` first (ids on every span),
  then the exporters: in memory (the printed report) and, optionally, OTLP/HTTP;
- a ``LoggerProvider`` with ``SessionLogRecordProcessor`` (ids on the GenAI
  events), in memory and optionally OTLP/HTTP;
- a ``MeterProvider`` (metrics carry no ids);
- the official ``OpenAIInstrumentor`` on those providers, with message content
  capture on: the instrumentation (and this library) keep it off by default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import SessionLogRecordProcessor, SessionSpanProcessor

__all__ = ["CAPTURE_CONTENT", "Telemetry", "set_up"]

SERVICE_NAME = "chat-demo"
# The official instrumentation's switch: prompts and replies on the chat spans
# and on the gen_ai.client.inference.operation.details events.
CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@dataclass
class Counted:
    """How many items an OTLP exporter got through, and how many it could not."""

    url: str
    what: str  # "spans" or "events"
    exported: int = 0
    failed: int = 0

    def count(self, items: int, ok: bool) -> None:
        if ok:
            self.exported += items
        else:
            self.failed += items


class CountingSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, counted: Counted) -> None:
        self.inner, self.counted = inner, counted

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.counted.count(len(spans), result is SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class CountingLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, counted: Counted) -> None:
        self.inner, self.counted = inner, counted

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        result = self.inner.export(batch)
        self.counted.count(len(batch), result is LogRecordExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _endpoint(url: str, signal: str) -> str:
    endpoint = url.rstrip("/")
    return endpoint if endpoint.endswith(f"/v1/{signal}") else f"{endpoint}/v1/{signal}"


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter
    metrics: InMemoryMetricReader
    otlp: list[Counted] = field(default_factory=list)

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()

    def shutdown(self) -> None:
        """Flush the OTLP batches and stop; the in-memory copies stay readable."""
        OpenAIInstrumentor().uninstrument()
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


def set_up(project: str, otlp: str | None = None, otlp_logs: str | None = None) -> Telemetry:
    resource = Resource.create(
        {"service.name": SERVICE_NAME, "openinference.project.name": project}
    )
    spans, logs, metrics = (
        InMemorySpanExporter(),
        InMemoryLogRecordExporter(),
        InMemoryMetricReader(),
    )
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SessionSpanProcessor())  # ids on every span, first
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SessionLogRecordProcessor())  # ids on events
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    meter_provider = MeterProvider(resource=resource, metric_readers=[metrics])
    telemetry = Telemetry(tracer_provider, logger_provider, meter_provider, spans, logs, metrics)

    _export_over_otlp(telemetry, otlp, otlp_logs)
    os.environ[CAPTURE_CONTENT] = "span_and_event"  # read when instrumenting
    OpenAIInstrumentor().instrument(
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
        meter_provider=meter_provider,
    )
    return telemetry


def _export_over_otlp(telemetry: Telemetry, traces: str | None, logs: str | None) -> None:
    """OTLP/HTTP exporters, counted; imported here so that the default run does not pay."""
    if traces:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        counted = Counted(traces, "spans")
        exporter = OTLPSpanExporter(endpoint=_endpoint(traces, "traces"), timeout=5)
        telemetry.tracer_provider.add_span_processor(
            BatchSpanProcessor(CountingSpanExporter(exporter, counted))
        )
        telemetry.otlp.append(counted)
    if logs:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        counted = Counted(logs, "events")
        log_exporter = OTLPLogExporter(endpoint=_endpoint(logs, "logs"), timeout=5)
        telemetry.logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(CountingLogExporter(log_exporter, counted))
        )
        telemetry.otlp.append(counted)
