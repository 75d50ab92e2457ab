"""The response iterable: run after the app returned, maybe elsewhere, maybe never.

The session must be in effect for every ``next()`` and for ``close()`` and gone
otherwise; the app's ``close()`` must run exactly once whatever the server does
(pitfalls 37-41, 45, 47).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import flask
import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from otel_genai_session import get_session_context, set_session_context
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.middleware import SessionWSGIMiddleware
from otel_genai_session.types import LLMInvocation

from ._support import Probe, call, ids_of, make_environ, spans_named

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .conftest import Serve

SID = [(b"X-Session-ID", b"s-1"), (b"X-User-ID", b"u-1")]
IDS = {"session.id": "s-1", "user.id": "u-1"}


class Body:
    """A response iterable that records spans per step and counts close() calls."""

    def __init__(self, tracer: Tracer, chunks: int = 3, fail_at: int | None = None) -> None:
        self.tracer = tracer
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = 0
        self.error = RuntimeError("mid-stream")

    def __iter__(self) -> Iterator[bytes]:
        for index in range(self.chunks):
            if index == self.fail_at:
                raise self.error
            self.tracer.start_span(f"chunk-{index}").end()
            yield b"%d" % index

    def close(self) -> None:
        self.closed += 1
        self.tracer.start_span("close").end()


def body_app(body: Body) -> Any:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    return app


def streaming_flask(tracer: Tracer, with_context: bool) -> flask.Flask:
    app = flask.Flask("stream")

    @app.route("/stream")
    def stream() -> flask.Response:
        def generate() -> Iterator[str]:
            for index in range(5):
                with tracer.start_as_current_span(f"chunk-{index}"):
                    if with_context:  # the request is still reachable
                        yield flask.request.headers.get("X-Session-ID", "-") + f":{index};"
                    else:
                        yield f"{index};"

        body = flask.stream_with_context(generate()) if with_context else generate()
        return flask.Response(body, mimetype="text/plain")

    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


@pytest.mark.parametrize(
    "with_context",
    [pytest.param(False, id="plain-generator"), pytest.param(True, id="stream_with_context")],
)
def test_flask_streaming_generator_runs_in_the_session(
    tracer: Tracer, exporter: InMemorySpanExporter, with_context: bool
) -> None:
    client = streaming_flask(tracer, with_context).test_client()

    response = client.get("/stream", headers={"X-Session-ID": "s-1"}, buffered=False)
    assert not exporter.get_finished_spans()  # nothing ran yet: the body is lazy
    body = response.get_data()
    response.close()
    tracer.start_span("after-close").end()

    prefix = "s-1:" if with_context else ""
    assert body.decode() == "".join(f"{prefix}{index};" for index in range(5))
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == [*(f"chunk-{i}" for i in range(5)), "after-close"]
    assert [ids_of(span) for span in spans] == [{"session.id": "s-1"}] * 5 + [{}]


@pytest.mark.parametrize(
    "with_context",
    [pytest.param(False, id="plain-generator"), pytest.param(True, id="stream_with_context")],
)
def test_flask_streaming_through_a_real_server(
    serve: Serve, tracer: Tracer, exporter: InMemorySpanExporter, with_context: bool
) -> None:
    """Chunks arrive one by one over HTTP (chunked); the next request, without
    ids, gets none in its chunks."""
    base = serve(streaming_flask(tracer, with_context))

    with httpx.Client(base_url=base, timeout=10) as client:
        with client.stream("GET", "/stream", headers={"X-Session-ID": "s-1"}) as response:
            chunks = list(response.iter_raw())
        assert response.headers["transfer-encoding"] == "chunked"
        second = client.get("/stream")

    prefix, second_prefix = ("s-1:", "-:") if with_context else ("", "")
    assert b"".join(chunks).decode() == "".join(f"{prefix}{i};" for i in range(5))
    assert second.text == "".join(f"{second_prefix}{i};" for i in range(5))
    spans = exporter.get_finished_spans()
    assert [ids_of(span) for span in spans] == [{"session.id": "s-1"}] * 5 + [{}] * 5


def test_genai_span_open_across_chunks(
    handler: TelemetryHandler, exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    """A streamed model call: the LLM span starts in the first next() and ends in
    the last; its context attach/detach spans several next() calls, one Context."""
    app = flask.Flask("genai")

    @app.route("/chat")
    def chat() -> flask.Response:
        def tokens() -> Iterator[str]:
            with handler.llm(LLMInvocation(request_model="m", provider="fake")) as invocation:
                yield from ("a", "b", "c")
                invocation.output_tokens = 3

        return flask.Response(tokens())

    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/chat", headers={"X-Session-ID": "s-1"}, buffered=False)
        assert response.get_data() == b"abc"
        response.close()

    [span] = exporter.get_finished_spans()
    assert span.name == "chat m"
    assert ids_of(span) == {"session.id": "s-1"}
    assert caplog.records == []


def test_iteration_in_another_thread(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    """Pitfall 38: a server that iterates in a worker thread."""
    body = Body(tracer)
    result = SessionWSGIMiddleware(body_app(body))(make_environ(headers=SID), lambda *a: None)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        data = pool.submit(lambda: b"".join(result)).result(timeout=10)
        pool.submit(result.close).result(timeout=10)  # type: ignore[attr-defined]
        worker_after = pool.submit(get_session_context).result(timeout=10)

    assert data == b"012"
    assert body.closed == 1
    assert [ids_of(span) for span in exporter.get_finished_spans()] == [IDS] * 4
    assert worker_after.is_empty()
    assert get_session_context().is_empty()


@pytest.mark.parametrize("closes", [pytest.param(1, id="once"), pytest.param(3, id="thrice")])
def test_close_without_iteration_closes_the_app_iterable_once(
    tracer: Tracer, exporter: InMemorySpanExporter, closes: int
) -> None:
    """Pitfall 39: client gone or HEAD: the server closes before the first next()."""
    body = Body(tracer)
    result = SessionWSGIMiddleware(body_app(body))(make_environ(headers=SID), lambda *a: None)

    for _ in range(closes):
        result.close()  # type: ignore[attr-defined]

    assert body.closed == 1
    assert [span.name for span in exporter.get_finished_spans()] == ["close"]
    assert ids_of(exporter.get_finished_spans()[0]) == IDS
    assert get_session_context().is_empty()


def test_close_never_called_leaves_nothing_behind(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """Pitfall 40: a buggy server that stops mid-body and never closes."""
    middleware = SessionWSGIMiddleware(body_app(Body(tracer)))

    result = middleware(make_environ(headers=SID), lambda *a: None)
    assert next(iter(result)) == b"0"
    between = get_session_context()
    later = call(middleware, make_environ())

    assert between.is_empty()
    assert later.body == b"012"
    assert [ids_of(span) for span in exporter.get_finished_spans()] == [IDS] + [{}] * 4


def test_iterable_raising_mid_stream(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    """Pitfall 41: the very exception reaches the server; close() still runs once."""
    body = Body(tracer, chunks=3, fail_at=1)

    with pytest.raises(RuntimeError) as raised:
        call(SessionWSGIMiddleware(body_app(body)), make_environ(headers=SID))

    assert raised.value is body.error
    assert body.closed == 1
    assert [(span.name, ids_of(span)) for span in exporter.get_finished_spans()] == [
        ("chunk-0", IDS),
        ("close", IDS),
    ]
    assert get_session_context().is_empty()


def test_generator_raising_closes_it_once(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    """A plain generator's finally runs (in the session) when it raises."""
    events: list[str] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield b"a"
            raise ValueError("broken")
        finally:
            events.append(get_session_context().session_id or "none")

    with pytest.raises(ValueError, match="broken"):
        call(SessionWSGIMiddleware(app), make_environ(headers=SID))

    assert events == ["s-1"]


def test_app_raising_before_returning(tracer: Tracer) -> None:
    """Pitfall 6: the original exception, unwrapped; the next request is clean."""
    error = LookupError("no such chat")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("HTTP_X_SESSION_ID"):
            raise error
        start_response("200 OK", [])
        return [(get_session_context().session_id or "none").encode()]

    middleware = SessionWSGIMiddleware(app)

    with pytest.raises(LookupError) as raised:
        call(middleware, make_environ(headers=SID))

    assert raised.value is error
    assert call(middleware, make_environ()).body == b"none"


@pytest.mark.parametrize(
    "chunks", [pytest.param([b"a", b"b"], id="list"), pytest.param((b"a", b"b"), id="tuple")]
)
def test_list_and_tuple_results_are_returned_as_is(chunks: Iterable[bytes]) -> None:
    """Nothing in them runs lazily; as-is they keep len() for the server."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return chunks

    assert SessionWSGIMiddleware(app)(make_environ(headers=SID), lambda *a: None) is chunks


def test_client_gone_mid_stream_closes_the_body_once_in_the_session(serve: Serve) -> None:
    """The server stops iterating when the client disconnects and calls close():
    the generator's cleanup runs once, with the request's ids."""
    cleanups: list[str | None] = []
    done = threading.Event()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        try:
            for _ in range(2000):
                yield b"x" * 65536
        finally:
            cleanups.append(get_session_context().session_id)
            done.set()

    base = serve(SessionWSGIMiddleware(app))
    with (
        httpx.Client(base_url=base, timeout=10) as client,
        client.stream("GET", "/", headers={"X-Session-ID": "gone"}) as response,
    ):
        next(response.iter_raw())

    assert done.wait(timeout=10)
    assert cleanups == ["gone"]


def test_legacy_write_callable_and_late_start_response(serve: Serve, tracer: Tracer) -> None:
    """Pitfall 47: write() before the iterable, start_response on the first next()."""

    def writer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written:")
        write((get_session_context().session_id or "none").encode())
        return [b":returned"]

    def lazy(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("201 Created", [("Content-Type", "text/plain")])
        yield (get_session_context().session_id or "none").encode()
        yield b":second"

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        inner = writer if environ["PATH_INFO"] == "/write" else lazy
        return inner(environ, start_response)

    base = serve(SessionWSGIMiddleware(app, response_header="X-Session-ID"))
    with httpx.Client(base_url=base, timeout=10) as client:
        written = client.get("/write", headers={"X-Session-ID": "w"})
        lazily = client.get("/lazy", headers={"X-Session-ID": "l"})

    assert (written.status_code, written.text) == (200, "written:w:returned")
    assert written.headers["X-Session-ID"] == "w"
    assert (lazily.status_code, lazily.text) == (201, "l:second")
    assert lazily.headers["X-Session-ID"] == "l"


def test_one_chunk_per_app_chunk(tracer: Tracer) -> None:
    """PEP 3333: the wrapper yields each block as soon as the app yields it."""
    produced: list[bytes] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        for chunk in (b"a", b"", b"bc"):
            produced.append(chunk)
            yield chunk

    iterator = iter(SessionWSGIMiddleware(app)(make_environ(), lambda *a: None))

    assert next(iterator) == b"a"
    assert produced == [b"a"]
    assert list(iterator) == [b"", b"bc"]


class LeakyApp:
    """Calls set_session_context and never clears it, in the call and in the body."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        self.tracer.start_span("call").end()
        set_session_context(session_id="leaked-" + environ["PATH_INFO"][1:])
        start_response("200 OK", [])
        yield (get_session_context().session_id or "none").encode()
        set_session_context(session_id="leaked-in-body")


def test_app_that_never_clears_does_not_leak_to_the_next_request(
    serve: Serve, tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    """Pitfall 45, on a single-thread server: every request runs on the same thread."""
    probe = Probe(SessionWSGIMiddleware(LeakyApp(tracer)))
    base = serve(probe, threaded=False)

    with httpx.Client(base_url=base, timeout=10) as client:
        bodies = [
            client.get("/a", headers={"X-Session-ID": "A"}).text,
            client.get("/b").text,
            client.get("/c", headers={"X-User-ID": "u"}).text,
        ]

    assert bodies == ["leaked-a", "leaked-b", "leaked-c"]
    assert [ids_of(span) for span in spans_named(exporter, "call")] == [
        {"session.id": "A"},
        {},
        {"user.id": "u"},
    ]
    assert len(probe.seen) == 9
    assert all(session.is_empty() for session in probe.seen)


def test_app_that_never_clears_direct_calls_on_one_thread(tracer: Tracer) -> None:
    middleware = SessionWSGIMiddleware(LeakyApp(tracer))

    first = call(middleware, make_environ(path="/x", headers=SID))
    after_first = get_session_context()
    second = call(middleware, make_environ(path="/y"))

    assert (first.body, second.body) == (b"leaked-x", b"leaked-y")
    assert after_first.is_empty()
