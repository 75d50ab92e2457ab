"""An OTLP/HTTP receiver in the test process: what the apps export, decoded.

The apps run with ``OTEL_TRACES_EXPORTER=otlp`` (and ``OTEL_LOGS_EXPORTER=otlp``)
and ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing here, exactly as they would point
at a Collector; requests are decoded with ``opentelemetry-proto``. The listening
socket is bound here and never closed before the receiver stops.

Usage::

    with otlp_receiver() as receiver:
        env = receiver.environment("my-service")
        ...
        spans = receiver.wait_for_spans(lambda span: span.kind == "SERVER", 2)
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

WAIT_TIMEOUT: Final = 15.0
SESSION_KEYS: Final = ("session.id", "user.id", "customer.id")
KINDS: Final = {
    value: name.removeprefix("SPAN_KIND_") for name, value in SpanProto.SpanKind.items()
}


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    trace_state: str
    attributes: dict[str, Any]

    def session(self) -> tuple[Any, ...]:
        """(session.id, user.id, customer.id) as exported; None where absent."""
        return tuple(self.attributes.get(key) for key in SESSION_KEYS)


@dataclass(frozen=True)
class LogRecord:
    service: str
    body: Any
    attributes: dict[str, Any]

    def session(self) -> tuple[Any, ...]:
        return tuple(self.attributes.get(key) for key in SESSION_KEYS)


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(item) for item in value.array_value.values]
    return None if which is None else getattr(value, which)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


class Receiver:
    """What has been received so far (thread-safe)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._spans: list[Span] = []
        self._logs: list[LogRecord] = []

    def environment(self, service: str, *, logs: bool = False) -> dict[str, str]:
        """The variables that make an instrumented app export here, quickly."""
        return {
            "OTEL_SERVICE_NAME": service,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "otlp" if logs else "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
        }

    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)

    def logs(self) -> list[LogRecord]:
        with self._lock:
            return list(self._logs)

    def wait_for_spans(self, keep: Callable[[Span], bool], count: int) -> list[Span]:
        """The spans ``keep`` accepts once there are ``count``, or what is there
        after :data:`WAIT_TIMEOUT` seconds (the test's assertion says what lacks)."""
        return _wait(self.spans, keep, count)

    def wait_for_logs(self, keep: Callable[[LogRecord], bool], count: int) -> list[LogRecord]:
        """The same for log records."""
        return _wait(self.logs, keep, count)

    def add_traces(self, body: bytes) -> bytes:
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            service = _attributes(resource_spans.resource.attributes).get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        Span(
                            service=service,
                            name=span.name,
                            kind=KINDS[span.kind],
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            trace_state=span.trace_state,
                            attributes=_attributes(span.attributes),
                        )
                    )
        with self._lock:
            self._spans.extend(received)
        return ExportTraceServiceResponse().SerializeToString()

    def add_logs(self, body: bytes) -> bytes:
        request = ExportLogsServiceRequest.FromString(body)
        received = []
        for resource_logs in request.resource_logs:
            service = _attributes(resource_logs.resource.attributes).get("service.name", "")
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    received.append(
                        LogRecord(service, _value(record.body), _attributes(record.attributes))
                    )
        with self._lock:
            self._logs.extend(received)
        return ExportLogsServiceResponse().SerializeToString()


T = TypeVar("T")


def _wait(received: Callable[[], list[T]], keep: Callable[[T], bool], count: int) -> list[T]:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        found = [item for item in received() if keep(item)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    routes = {"/v1/traces": receiver.add_traces, "/v1/logs": receiver.add_logs}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            route = routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            reply = route(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 and a port the OS chose, for the ``with`` block."""
    receiver = Receiver("")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(receiver))
    server.daemon_threads = True
    receiver.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
