"""Thread reuse under load: 8 server threads x 500 requests, zero cross-talk.

A werkzeug server with a fixed pool of 8 worker threads (the gthread model)
serves 8 clients, each a keep-alive httpx.Client sending 500 requests: the
4000 requests run on the same 8 threads, ids changing on every request and a
third of the requests carrying none. Half the responses are streamed
(werkzeug then closes the connection, so the next one lands on any worker),
half have a Content-Length (the connection is kept). Each request's spans, in
the view and in its lazily consumed body, must carry exactly its own ids, and
the server threads outside the middleware never see a session.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import flask
import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from otel_genai_session import get_session_context
from otel_genai_session.middleware import SessionWSGIMiddleware

from ._support import Probe, ids_of

pytestmark = pytest.mark.servers

if TYPE_CHECKING:
    from .conftest import Serve

CLIENTS = 8
REQUESTS = 500


def expected_ids(client: int, index: int) -> dict[str, str]:
    """Alternating ids; every third request has none at all."""
    if index % 3 == 0:
        return {}
    if index % 3 == 1:
        return {"session.id": f"s-{client}-{index}", "user.id": f"u-{client}"}
    return {"session.id": f"s-{client}-{index}", "customer.id": f"c-{index % 2}"}


HEADERS = {"session.id": "X-Session-ID", "user.id": "X-User-ID", "customer.id": "X-Customer-ID"}


def load_app(tracer: Tracer) -> flask.Flask:
    app = flask.Flask("load")

    @app.route("/chat")
    def chat() -> flask.Response:
        request_id = flask.request.headers["X-Request"]
        with tracer.start_as_current_span("view") as span:
            span.set_attribute("request", request_id)
            span.set_attribute("thread", threading.current_thread().name)

        def body() -> Iterator[str]:
            with tracer.start_as_current_span("body") as span:
                span.set_attribute("request", request_id)
                yield get_session_context().session_id or "-"

        if int(request_id.split(":")[1]) % 2:
            return flask.Response(body())  # streamed: no Content-Length
        return flask.Response(list(body()))  # Content-Length: keep-alive

    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def run_client(base: str, client_number: int) -> list[str]:
    bodies = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for index in range(REQUESTS):
            headers = {
                HEADERS[key]: value for key, value in expected_ids(client_number, index).items()
            }
            headers["X-Request"] = f"{client_number}:{index}"
            response = client.get("/chat", headers=headers)
            assert response.status_code == 200
            bodies.append(response.text)
    return bodies


def test_no_cross_talk_between_requests_on_reused_threads(
    serve: Serve, tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    probe = Probe(load_app(tracer).wsgi_app)
    base = serve(probe, workers=CLIENTS)

    with concurrent.futures.ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(run_client, base, number) for number in range(CLIENTS)]
        bodies = [future.result(timeout=90) for future in futures]

    for number, client_bodies in enumerate(bodies):
        expected = [expected_ids(number, i).get("session.id", "-") for i in range(REQUESTS)]
        assert client_bodies == expected
    spans = exporter.get_finished_spans()
    assert len(spans) == 2 * CLIENTS * REQUESTS
    wrong = []
    for span in spans:
        client_number, index = map(int, str((span.attributes or {})["request"]).split(":"))
        if ids_of(span) != expected_ids(client_number, index):
            wrong.append((span.name, client_number, index, ids_of(span)))
    assert wrong == []
    per_thread = collections.Counter(
        (span.attributes or {})["thread"] for span in spans if span.name == "view"
    )
    assert sum(per_thread.values()) == CLIENTS * REQUESTS
    assert len(per_thread) <= CLIENTS  # 4000 requests on at most 8 reused threads
    assert all(name.startswith("wsgi-worker") for name in per_thread)
    assert len(probe.seen) == 3 * CLIENTS * REQUESTS
    assert all(session.is_empty() for session in probe.seen)
