"""Next to OpenTelemetry's WSGI instrumentation, and wrapped twice (pitfalls 11, 51).

Outside ours, ``OpenTelemetryMiddleware``'s SERVER span starts before the
session exists: the middleware sets the ids on it when the request starts.
Inside ours, the span starts within the session and gets them from the span
processor. Either way every child span carries them and context detaching
never fails.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import flask
import httpx
import pytest
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from otel_genai_session import get_session_context
from otel_genai_session.middleware import SessionWSGIMiddleware

from ._support import call, ids_of, make_environ

IDS = {"session.id": "s-1", "user.id": "u-1"}
HEADERS = {"X-Session-ID": "s-1", "X-User-ID": "u-1"}


def flask_app(tracer: Tracer) -> flask.Flask:
    app = flask.Flask("otel")

    @app.route("/plain")
    def plain() -> str:
        tracer.start_span("view").end()
        return "ok"

    @app.route("/stream")
    def stream() -> flask.Response:
        def generate() -> Iterator[str]:
            for index in range(3):
                tracer.start_span(f"chunk-{index}").end()
                yield f"{index}"

        return flask.Response(generate())

    @app.route("/fail")
    def fail() -> flask.Response:
        def generate() -> Iterator[str]:
            tracer.start_span("chunk-0").end()
            yield "0"
            raise RuntimeError("mid-stream")

        return flask.Response(generate())

    return app


def wrap(app: flask.Flask, order: str, tracer_provider: TracerProvider) -> flask.Flask:
    inner = app.wsgi_app
    if order == "otel-outside":
        wrapped: Any = OpenTelemetryMiddleware(
            SessionWSGIMiddleware(inner), tracer_provider=tracer_provider
        )
    else:
        wrapped = SessionWSGIMiddleware(
            OpenTelemetryMiddleware(inner, tracer_provider=tracer_provider)
        )
    app.wsgi_app = wrapped  # type: ignore[method-assign]
    return app


ORDERS = [
    pytest.param("otel-outside", id="otel-outside"),
    pytest.param("ours-outside", id="ours-outside"),
]


def server_span(exporter: InMemorySpanExporter) -> Any:
    spans = [span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER]
    assert len(spans) == 1
    return spans[0]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("path", ["/plain", "/stream"])
def test_server_span_and_children_carry_the_ids(
    tracer: Tracer,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    order: str,
    path: str,
) -> None:
    client = wrap(flask_app(tracer), order, tracer_provider).test_client()

    with caplog.at_level(logging.ERROR):
        response = client.get(path, headers=HEADERS)
        response.close()
        client.get(path).close()

    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    servers = [span for span in spans if span.kind == SpanKind.SERVER]
    assert [ids_of(span) for span in servers] == [IDS, {}]
    children = [span for span in spans if span.kind != SpanKind.SERVER]
    with_ids = [
        span
        for span in children
        if span.parent and span.parent.span_id == servers[0].context.span_id
    ]
    assert with_ids and all(ids_of(span) == IDS for span in with_ids)
    assert all(ids_of(span) == {} for span in children if span not in with_ids)
    assert not [record for record in caplog.records if "detach" in record.getMessage()]


@pytest.mark.parametrize("order", ORDERS)
def test_stream_raising_keeps_ids_and_detaches_cleanly(
    tracer: Tracer,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    order: str,
) -> None:
    app = wrap(flask_app(tracer), order, tracer_provider)

    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="mid-stream"):
        call(app.wsgi_app, make_environ(path="/fail", headers=[(b"X-Session-ID", b"s-1")]))

    assert ids_of(server_span(exporter)) == {"session.id": "s-1"}
    assert not [record for record in caplog.records if "detach" in record.getMessage()]
    assert get_session_context().is_empty()


def test_otel_outside_through_a_real_server(
    serve: Any, tracer: Tracer, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    base = serve(wrap(flask_app(tracer), "otel-outside", tracer_provider))

    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/stream", headers=HEADERS).text == "012"

    assert ids_of(server_span(exporter)) == IDS
    assert [ids_of(span) for span in exporter.get_finished_spans()] == [IDS] * 4


class CountingInput(io.BytesIO):
    """The client's body stream, counting the bytes taken from it."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.taken += len(data)
        return data


def test_double_wrapping_reads_once_and_agrees(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """The inner instance sees the request already handled and passes it through,
    whatever its own options."""
    options: dict[str, Any] = {
        "body_mapping": {"session_id": "session_id"},
        "response_header": "X-Session-ID",
    }
    body = json.dumps({"session_id": "from-body"}).encode()
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        tracer.start_span("view").end()
        seen.append((get_session_context().session_id, environ["wsgi.input"].read()))
        start_response("200 OK", [])
        return [b"ok"]

    inner = SessionWSGIMiddleware(app, header_mapping={"X-Other": "session_id"}, **options)
    twice = SessionWSGIMiddleware(inner, **options)
    once = SessionWSGIMiddleware(app, **options)
    results = []
    for wrapped in (once, twice):
        stream = CountingInput(body)
        environ = make_environ(
            "POST",
            headers=[
                (b"Content-Type", b"application/json"),
                (b"Content-Length", b"%d" % len(body)),
                (b"X-Other", b"other"),
            ],
            body=body,
        )
        environ["wsgi.input"] = stream
        response = call(wrapped, environ)
        results.append((response.headers, stream.taken))

    assert seen == [("from-body", body), ("from-body", body)]
    assert results[0] == results[1] == ([("X-Session-ID", "from-body")], len(body))
    assert [ids_of(span) for span in exporter.get_finished_spans()] == [
        {"session.id": "from-body"}
    ] * 2
