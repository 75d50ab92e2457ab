"""Tracing for apps that run in a server subprocess: spans go to a JSON-lines file.

The test process names the file in ``ECOSYSTEM_SPANS``; each finished span is
appended as one line (name and attributes) and flushed at once, so the test can
read it as soon as the reply has arrived. Setting the global provider is fine
here: this runs in the server's own process, never in pytest's.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_genai_session.processor import SessionSpanProcessor

SPANS_FILE_VARIABLE = "ECOSYSTEM_SPANS"


class JsonLinesExporter(SpanExporter):
    """Appends ``{"name", "kind", "attributes"}`` per span to a file; thread-safe."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(
            json.dumps(
                {
                    "name": span.name,
                    "kind": span.kind.name,
                    "attributes": dict(span.attributes or {}),
                }
            )
            + "\n"
            for span in spans
        )
        with self._lock, open(self._path, "a", encoding="utf-8") as file:
            file.write(lines)
        return SpanExportResult.SUCCESS


def add_file_export(provider: TracerProvider) -> TracerProvider:
    """Add the session processor and the file exporter to ``provider``."""
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(
        SimpleSpanProcessor(JsonLinesExporter(os.environ[SPANS_FILE_VARIABLE]))
    )
    return provider


def configure() -> TracerProvider:
    """A global SDK provider exporting to the file (for apps run by a server)."""
    provider = add_file_export(TracerProvider())
    trace.set_tracer_provider(provider)
    return provider
