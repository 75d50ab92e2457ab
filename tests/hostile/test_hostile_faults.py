"""Faults around the middlewares: broken exporters, broken extract hooks, apps
that raise, tasks that are cancelled.

Whatever breaks, the request's status and body are what they would be with a
working setup, the session in effect around the call is restored, nothing is
logged with client bytes, and OpenTelemetry never reports "Failed to detach
context".
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import httpx
import pytest
from _hostile import MARKER, RawRequest, records_leaking, run_asgi, run_coroutine, run_wsgi
from flask import Flask, jsonify, request
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from werkzeug.test import Client

from otel_genai_session import SessionContext, get_session_context, session_context
from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.session import EMPTY_SESSION

# -- exporters that fail ---------------------------------------------------------------


class RaisingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise RuntimeError("collector exploded")

    def shutdown(self) -> None:
        pass


class HangingExporter(SpanExporter):
    """Blocks in export() until released (bounded: 30 s at most)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(30)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def provider_with(processor_factory: Callable[[], Any]) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(processor_factory())
    return provider


# -- the apps: a real Starlette and a real Flask app, each making a span per request ----


def starlette_app(provider: TracerProvider) -> GenAISessionMiddleware:
    tracer = provider.get_tracer("hostile")

    async def chat(req: Request) -> JSONResponse:
        with tracer.start_as_current_span("chat"):
            body = await req.body()
        session = get_session_context()
        return JSONResponse({"session": session.session_id, "bytes": len(body)}, status_code=201)

    app = Starlette(routes=[Route("/chat", chat, methods=["POST"])])
    return GenAISessionMiddleware(app)


def flask_app(provider: TracerProvider) -> Flask:
    tracer = provider.get_tracer("hostile")
    app = Flask("hostile")

    @app.post("/chat")
    def chat() -> Any:
        with tracer.start_as_current_span("chat"):
            body = request.get_data()
        session = get_session_context()
        return jsonify({"session": session.session_id, "bytes": len(body)}), 201

    app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


REQUESTS = [(f"conv-{i}", b"x" * (i * 100)) for i in range(5)]


Results = list[tuple[int, Any]]


async def drive_asgi(provider: TracerProvider) -> Results:
    transport = httpx.ASGITransport(app=starlette_app(provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        results = []
        for session_id, body in REQUESTS:
            response = await client.post(
                "/chat", content=body, headers={"X-Session-ID": session_id}
            )
            results.append((response.status_code, response.json()))
        return results


def drive_wsgi(provider: TracerProvider) -> Results:
    client = Client(flask_app(provider))
    results = []
    for session_id, body in REQUESTS:
        response = client.post("/chat", data=body, headers={"X-Session-ID": session_id})
        results.append((response.status_code, response.get_json()))
    return results


EXPECTED: Results = [(201, {"session": s, "bytes": len(b)}) for s, b in REQUESTS]


@pytest.mark.anyio
async def test_baseline_with_working_exporter() -> None:
    """The reference the fault runs are held to, checked with a real exporter."""
    memory = InMemorySpanExporter()
    provider = provider_with(lambda: SimpleSpanProcessor(memory))
    assert await drive_asgi(provider) == EXPECTED
    assert drive_wsgi(provider) == EXPECTED
    sessions = [(span.attributes or {})["session.id"] for span in memory.get_finished_spans()]
    assert sessions == [s for s, _ in REQUESTS] * 2


@pytest.mark.anyio
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "fault", ["raising", "hanging-batch", "otlp-dead-port-batch", "otlp-dead-port-simple"]
)
async def test_failing_exporter_does_not_change_responses(
    fault: str, genai_logs: pytest.LogCaptureFixture
) -> None:
    """The exporter raises, hangs, or points at a dead OTLP endpoint: every
    request through both middlewares answers exactly as with a working one."""
    cleanup: list[Callable[[], None]] = []
    if fault == "raising":
        raising = RaisingExporter()
        provider = provider_with(lambda: SimpleSpanProcessor(raising))
    elif fault == "hanging-batch":
        hanging = HangingExporter()
        provider = provider_with(
            lambda: BatchSpanProcessor(
                hanging, schedule_delay_millis=1, max_export_batch_size=1, export_timeout_millis=200
            )
        )
        cleanup.append(hanging.release.set)
    else:
        exporter = OTLPSpanExporter(
            endpoint=f"http://127.0.0.1:{dead_port()}/v1/traces",
            timeout=0.5 if fault.endswith("simple") else 1,
        )
        if fault.endswith("batch"):
            provider = provider_with(lambda: BatchSpanProcessor(exporter, schedule_delay_millis=1))
        else:
            provider = provider_with(lambda: SimpleSpanProcessor(exporter))
    try:
        asgi = await drive_asgi(provider)
        wsgi = await asyncio.to_thread(drive_wsgi, provider)
        assert asgi == EXPECTED
        assert wsgi == EXPECTED
        if fault == "raising":
            assert raising.calls == 2 * len(REQUESTS)
        if fault == "hanging-batch":
            assert hanging.entered.wait(10), "the exporter was never reached"
    finally:
        for release in cleanup:
            release()
        await asyncio.to_thread(provider.shutdown)
    assert get_session_context() == EMPTY_SESSION
    if fault != "hanging-batch":  # proof the fault was hit: the SDK or exporter said so
        assert [
            r
            for r in genai_logs.records
            if r.levelno >= logging.ERROR
            and r.name.startswith(("opentelemetry.sdk", "opentelemetry.exporter"))
        ]


# -- user extract hooks that fail ---------------------------------------------------------


def raising_hook(scope_or_environ: Any) -> dict[str, str]:
    raise RuntimeError(f"hook failed on {MARKER}")


def list_hook(scope_or_environ: Any) -> list[str]:
    return ["session_id", MARKER]


def garbage_mapping_hook(scope_or_environ: Any) -> dict[Any, Any]:
    return {
        "bogus": MARKER,
        "session_id": 12.5,
        "user_id": object(),
        ("tuple", "key"): MARKER,
        "customer_id": "tenant-from-hook",
    }


HOOK_REQUEST = RawRequest(
    headers=((b"x-session-id", b"s-header"), (b"x-user-id", b"u-header")),
    query=b"tenant=t-query",
)
HOOK_OPTIONS: dict[str, Any] = {"query_mapping": {"tenant": "customer_id"}}


@pytest.mark.parametrize(
    ("hook", "expected", "causes"),
    [
        pytest.param(raising_hook, ("s-header", "u-header", "t-query"), 1, id="raises"),
        pytest.param(list_hook, ("s-header", "u-header", "t-query"), 1, id="returns-list"),
        pytest.param(
            garbage_mapping_hook,
            # The hook decided session_id and user_id: invalid, they are dropped
            # (the client's headers do not decide them instead).
            (None, None, "tenant-from-hook"),
            3,  # unknown keys; session_id not text; user_id not text
            id="returns-unknown-keys-and-non-str-values",
        ),
    ],
)
@pytest.mark.parametrize("protocol", ["asgi", "wsgi"])
def test_broken_extract_hook(
    hook: Callable[[Any], Any],
    expected: tuple[str | None, str | None, str | None],
    causes: int,
    protocol: str,
    genai_logs: pytest.LogCaptureFixture,
) -> None:
    """The request goes on with the other sources; the failure is logged once
    (however many requests), naming the hook, never echoing what it returned."""
    from _hostile import echo_asgi, echo_wsgi

    options = {**HOOK_OPTIONS, "extract": hook}
    for _ in range(3):
        if protocol == "asgi":
            outcome = run_asgi(GenAISessionMiddleware(echo_asgi, **options), HOOK_REQUEST)
        else:
            outcome = run_wsgi(SessionWSGIMiddleware(echo_wsgi, **options), HOOK_REQUEST.environ())
        assert outcome.status == 200
        assert outcome.session == expected
    naming = [r for r in genai_logs.records if hook.__name__ in r.getMessage()]
    assert len(naming) == causes  # each cause once, however many requests
    assert all(r.levelno == logging.WARNING for r in naming)
    assert records_leaking(genai_logs.records, [MARKER]) == []


# -- apps that raise, tasks that are cancelled ------------------------------------------


class Boom(Exception):
    pass


def detach_failures(records: Iterable[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if "Failed to detach context" in r.getMessage()]


def stacks(app: Any, provider: TracerProvider) -> dict[str, Any]:
    """Ours alone, ours outside OpenTelemetryMiddleware, and ours inside it."""
    return {
        "alone": GenAISessionMiddleware(app),
        "outside-otel": GenAISessionMiddleware(
            OpenTelemetryMiddleware(app, tracer_provider=provider)
        ),
        "inside-otel": OpenTelemetryMiddleware(
            GenAISessionMiddleware(app), tracer_provider=provider
        ),
    }


@pytest.mark.parametrize("stack", ["alone", "outside-otel", "inside-otel"])
def test_asgi_app_raising_restores_session(
    stack: str, tracer_provider: TracerProvider, genai_logs: pytest.LogCaptureFixture
) -> None:
    seen: list[SessionContext] = []
    error = Boom("app failed")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(get_session_context())
        raise error

    wrapped = stacks(app, tracer_provider)[stack]
    request = RawRequest(headers=((b"x-session-id", b"inner"),))
    with session_context(session_id="outer", user_id="outer-user"):
        before = get_session_context()
        with pytest.raises(Boom) as raised:
            run_asgi(wrapped, request)
        assert raised.value is error  # re-raised as is, not wrapped
        assert get_session_context() == before
    assert seen == [SessionContext(session_id="inner")]
    assert detach_failures(genai_logs.records) == []


@pytest.mark.anyio
@pytest.mark.parametrize("stack", ["alone", "outside-otel", "inside-otel"])
async def test_asgi_task_cancelled_restores_session(
    stack: str, tracer_provider: TracerProvider, genai_logs: pytest.LogCaptureFixture
) -> None:
    """The request task is cancelled while the app waits: cancellation
    propagates and the task's session is back to what it was."""
    entered = asyncio.Event()
    seen: list[SessionContext] = []
    after: list[SessionContext] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(get_session_context())
        entered.set()
        await asyncio.Event().wait()  # until cancelled

    wrapped = stacks(app, tracer_provider)[stack]

    async def request_task() -> None:
        try:
            await wrapped(
                RawRequest(headers=((b"x-session-id", b"inner"),)).scope(),
                _never_receive,
                _discard,
            )
        finally:
            after.append(get_session_context())

    with session_context(session_id="outer"):
        task = asyncio.get_running_loop().create_task(request_task())
        await asyncio.wait_for(entered.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert task.cancelled()
        assert get_session_context() == SessionContext(session_id="outer")
    assert seen == [SessionContext(session_id="inner")]
    assert after == [SessionContext(session_id="outer")]
    assert detach_failures(genai_logs.records) == []


@pytest.mark.anyio
async def test_asgi_cancel_scope_in_same_task_restores_session() -> None:
    """Cancelled by an anyio cancel scope in the same task (no task boundary to
    hide a leak): after the scope, the session is the one before."""
    import anyio

    after: list[SessionContext] = []
    with anyio.CancelScope() as cancel_scope:

        async def app(scope: Any, receive: Any, send: Any) -> None:
            assert get_session_context() == SessionContext(session_id="inner")
            cancel_scope.cancel()
            await anyio.sleep(10)

        with session_context(session_id="outer"):
            try:
                await GenAISessionMiddleware(app)(
                    RawRequest(headers=((b"x-session-id", b"inner"),)).scope(),
                    _never_receive,
                    _discard,
                )
            finally:
                after.append(get_session_context())
    assert cancel_scope.cancelled_caught
    assert after == [SessionContext(session_id="outer")]


async def _never_receive() -> dict[str, Any]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def _discard(message: Any) -> None:
    pass


class CountingIterable:
    """A WSGI response iterable that counts close() calls and can fail."""

    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = 0
        self.sessions: list[SessionContext] = []

    def __iter__(self) -> Iterator[bytes]:
        for i, chunk in enumerate(self.chunks):
            self.sessions.append(get_session_context())
            if i == self.fail_at:
                raise Boom("mid-stream")
            yield chunk

    def close(self) -> None:
        self.closed += 1


def test_wsgi_app_raising_restores_session() -> None:
    error = Boom("app failed")

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        assert get_session_context() == SessionContext(session_id="inner")
        raise error

    with session_context(session_id="outer"):
        with pytest.raises(Boom) as raised:
            run_wsgi(
                SessionWSGIMiddleware(app),
                RawRequest(headers=((b"x-session-id", b"inner"),)).environ(),
            )
        assert raised.value is error
        assert get_session_context() == SessionContext(session_id="outer")


@pytest.mark.parametrize("fail_at", [None, 0, 2], ids=["complete", "first-chunk", "mid-stream"])
def test_wsgi_iterable_raising_or_not_closes_exactly_once(fail_at: int | None) -> None:
    iterable = CountingIterable([b"a", b"b", b"c", b"d"], fail_at)

    def app(environ: Any, start_response: Any) -> CountingIterable:
        start_response("200 OK", [])
        return iterable

    wrapped = SessionWSGIMiddleware(app)
    environ = RawRequest(headers=((b"x-session-id", b"inner"),)).environ()
    response = wrapped(environ, lambda status, headers, exc_info=None: None)
    try:
        if fail_at is None:
            assert b"".join(response) == b"abcd"
        else:
            with pytest.raises(Boom):
                b"".join(response)
    finally:
        response.close()  # type: ignore[attr-defined]
        response.close()  # type: ignore[attr-defined]  # a server closing twice
    assert iterable.closed == 1
    assert set(iterable.sessions) == {SessionContext(session_id="inner")}
    assert get_session_context() == EMPTY_SESSION


def test_wsgi_close_without_iteration_and_from_another_thread() -> None:
    """A server closing before iterating (client gone, HEAD), from another
    thread: the app's close() runs once, in the request's session."""
    closed_in: list[SessionContext] = []

    class Iterable_(CountingIterable):
        def close(self) -> None:
            super().close()
            closed_in.append(get_session_context())

    iterable = Iterable_([b"never"])

    def app(environ: Any, start_response: Any) -> CountingIterable:
        start_response("200 OK", [])
        return iterable

    response = SessionWSGIMiddleware(app)(
        RawRequest(headers=((b"x-session-id", b"inner"),)).environ(),
        lambda status, headers, exc_info=None: None,
    )
    thread = threading.Thread(target=response.close)  # type: ignore[attr-defined]
    thread.start()
    thread.join(10)
    assert iterable.closed == 1
    assert iterable.sessions == []
    assert closed_in == [SessionContext(session_id="inner")]


def test_asgi_receive_error_reaches_app_unchanged() -> None:
    """A transport error met while the middleware buffers the body is the very
    object the app gets, at the same point of the body."""
    from _hostile import ClientGone

    errors: list[BaseException] = []
    failure = ClientGone("reset")
    messages: list[Any] = [{"type": "http.request", "body": b'{"session_id":', "more_body": True}]

    async def receive() -> Any:
        if messages:
            return messages.pop(0)
        raise failure

    async def app(scope: Any, receive: Any, send: Any) -> None:
        first = await receive()
        assert first["body"] == b'{"session_id":'
        try:
            await receive()
        except ClientGone as exc:
            errors.append(exc)

    request = RawRequest(
        method="POST",
        headers=((b"content-type", b"application/json"), (b"content-length", b"40")),
    )
    run_coroutine(
        GenAISessionMiddleware(app, body_mapping={"session_id": "session_id"})(
            request.scope(), receive, _discard
        )
    )
    assert errors == [failure]
    assert errors[0] is failure
