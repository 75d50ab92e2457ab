"""What crosses a hop (issue 22, cases 5 and 6), with two real services on 127.0.0.1.

The front is a Starlette app under uvicorn with GenAISessionMiddleware; it calls
the back, a Flask app under werkzeug with SessionWSGIMiddleware, through an
httpx client instrumented by OpenTelemetry (which injects ``baggage``). The
back answers with the ``baggage`` header it received and the one it would send
on, and its server span is exported with the real SDK.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, request
from opentelemetry import propagate
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_genai_session import SessionContext, get_session_context, session_context
from otel_genai_session._otel_context import propagating
from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware
from otel_genai_session.privacy import disable_user_id_hashing, enable_user_id_hashing
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.propagation import SessionBaggagePropagator
from tests.propagation.conftest import UvicornThread, WerkzeugThread

pytestmark = pytest.mark.servers

KEY = b"shared-hash-key"
HASH_MAPPING = {"session.id": "session_id", "user.hash": "user_id", "customer.id": "customer_id"}


def user_hash(user_id: str) -> str:
    return hmac.new(KEY, user_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(autouse=True)
def restore_global_state() -> Iterator[None]:
    before = propagate.get_global_textmap()
    yield
    propagate.set_global_textmap(before)
    disable_user_id_hashing()


@pytest.fixture
def back_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def make_back(exporter: InMemorySpanExporter, **options: Any) -> Flask:
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    back = Flask("back")

    @back.get("/work")
    def work() -> dict[str, Any]:
        onward: dict[str, str] = {}
        SessionBaggagePropagator().inject(onward)  # what this service sends on
        return {
            "received": request.headers.get("baggage"),
            "onward": onward.get("baggage"),
            "user_id": get_session_context().user_id,
        }

    back.wsgi_app = OpenTelemetryMiddleware(  # type: ignore[method-assign]
        SessionWSGIMiddleware(back.wsgi_app, **options), tracer_provider=provider
    )
    return back


def back_server_spans(exporter: InMemorySpanExporter, count: int) -> list[ReadableSpan]:
    deadline = time.monotonic() + 5
    while True:
        spans = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        time.sleep(0.01)


async def call(client: httpx.AsyncClient) -> dict[str, Any]:
    HTTPXClientInstrumentor().instrument_client(client)
    response = await client.get("/work")
    result: dict[str, Any] = response.json()
    return result


# -- case 5: one user, one user.hash, across services ---------------------------------


def test_a_received_user_hash_is_exported_and_forwarded_unchanged(
    back_exporter: InMemorySpanExporter,
) -> None:
    """Service A hashes alice and sends ``user.hash``; service B maps it to
    ``user_id`` and exports and forwards the same value: not hashed again, not
    ``user.id``. B hashes with A's key here (one process); the next test has
    hashing off."""
    enable_user_id_hashing(key=KEY)

    async def front_call(request: Request) -> JSONResponse:
        async with httpx.AsyncClient(base_url=back.url, timeout=10) as client:
            return JSONResponse(await call(client))

    front_app = GenAISessionMiddleware(
        Starlette(routes=[Route("/chat", front_call)]), propagate_baggage=True
    )
    with (
        WerkzeugThread(make_back(back_exporter, baggage_mapping=HASH_MAPPING)) as back,
        UvicornThread(front_app) as front,
    ):
        headers = {"X-Session-ID": "conv-1", "X-User-ID": "alice", "X-Customer-ID": "acme"}
        answer = httpx.get(f"{front.url}/chat", headers=headers, timeout=10).json()
    expected = user_hash("alice")
    assert f"user.hash={expected}" in answer["received"]
    assert f"user.hash={expected}" in answer["onward"]
    assert "user.id" not in answer["onward"]
    (span,) = back_server_spans(back_exporter, 1)
    attributes = dict(span.attributes or {})
    assert attributes["user.hash"] == expected
    assert "user.id" not in attributes
    assert attributes["session.id"] == "conv-1" and attributes["customer.id"] == "acme"


def test_a_received_user_hash_stays_one_where_hashing_is_off(
    back_exporter: InMemorySpanExporter,
) -> None:
    disable_user_id_hashing()
    received = user_hash("alice")
    with WerkzeugThread(make_back(back_exporter, baggage_mapping=HASH_MAPPING)) as back:
        answer = httpx.get(
            f"{back.url}/work", headers={"baggage": f"session.id=c1,user.hash={received}"}
        ).json()
    assert answer["onward"] == f"session.id=c1,user.hash={received}"
    (span,) = back_server_spans(back_exporter, 1)
    assert dict(span.attributes or {})["user.hash"] == received
    assert "user.id" not in (span.attributes or {})


# -- case 6: resume() is exact ------------------------------------------------------


def test_a_batcher_started_inside_a_propagating_request_sends_no_ids_for_resumed_jobs(
    back_exporter: InMemorySpanExporter,
) -> None:
    """The batcher task is created lazily by the first request, which turned
    propagation on; the jobs it resumes must not send their ids (users
    included) to every host it calls, unless ``resume`` is asked to."""
    queue: asyncio.Queue[tuple[Any, bool, asyncio.Future[dict[str, Any]]]] = asyncio.Queue()
    batcher: list[asyncio.Task[None]] = []

    async def batch(back_url: str) -> None:
        async with httpx.AsyncClient(base_url=back_url, timeout=10) as client:
            while True:
                session, send_ids, result = await queue.get()
                with session_context.resume(session, propagate_baggage=send_ids):
                    assert propagating() is send_ids
                    result.set_result(await call(client))
                assert propagating() is True  # the creating request's switch, restored

    async def chat(request: Request) -> JSONResponse:
        if not batcher:  # started lazily, inside a request with propagation on
            batcher.append(asyncio.create_task(batch(request.app.state.back_url)))
        result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        send_ids = request.query_params.get("send") == "1"
        await queue.put((get_session_context(), send_ids, result))
        return JSONResponse(await result)

    starlette = Starlette(routes=[Route("/chat", chat)])
    front_app = GenAISessionMiddleware(starlette, propagate_baggage=True)
    with (
        WerkzeugThread(make_back(back_exporter, baggage_mapping=HASH_MAPPING)) as back,
        UvicornThread(front_app) as front,
    ):
        starlette.state.back_url = back.url
        answers = [
            httpx.get(
                f"{front.url}/chat",
                params={"send": "1" if i == 3 else "0"},
                headers={"X-Session-ID": f"conv-{i}", "X-User-ID": f"user-{i}"},
                timeout=10,
            ).json()
            for i in range(4)
        ]
    for answer in answers[:3]:
        assert "session.id" not in (answer["received"] or "")
        assert "user" not in (answer["received"] or "")
    assert answers[3]["received"] == "session.id=conv-3,user.id=user-3"  # asked for


def test_resume_sets_the_switch_exactly_and_restores_it() -> None:
    job = SessionContext(session_id="job", user_id="u")
    carrier: dict[str, str] = {}
    with session_context(session_id="outer", propagate_baggage=True):
        with session_context.resume(job):
            assert propagating() is False
            SessionBaggagePropagator(always=False).inject(carrier)
        assert propagating() is True
    with session_context.resume(job, propagate_baggage=True):
        assert propagating() is True
    assert propagating() is False
    assert carrier == {}
