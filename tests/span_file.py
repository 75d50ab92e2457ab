"""Spans from another process: an exporter that appends each finished span to a
file as one JSON line, and the reader the test uses (bounded wait).

For the tests whose spans are made in a process the test starts (the Celery
worker, the MCP server): a global tracer provider can be set once per process,
and those processes are real ones.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_genai_session.processor import SessionSpanProcessor

IDS = ("session.id", "user.id", "customer.id")


class JsonLinesExporter(SpanExporter):
    """Appends name, kind, string attributes and pid of each span to ``path``."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock, open(self._path, "a", encoding="utf-8") as file:
            for span in spans:
                attributes = {
                    key: value
                    for key, value in (span.attributes or {}).items()
                    if isinstance(value, str)
                }
                record = {
                    "name": span.name,
                    "kind": span.kind.name,
                    "attributes": attributes,
                    "pid": os.getpid(),
                }
                file.write(json.dumps(record) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def install_global_provider(path: str) -> TracerProvider:
    """The process's global provider: our processor first, then the file."""
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
    trace.set_tracer_provider(provider)
    return provider


def read_spans(path: Path, expected: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The spans written so far, once there are ``expected`` (or the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) >= expected or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)


def ids(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(record["attributes"].get(key) for key in IDS)
