"""``@session_context`` on generator and async generator functions (issue 13, item 10).

The body runs at each step, not at the call: the session must be in effect at
every step, and gone from the consumer's context between steps.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Generator, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from otel_genai_session import get_session_context, session_context, set_session_context
from otel_genai_session.session import EMPTY_SESSION, SessionContext

Ids = tuple[str | None, str | None, str | None]


def ids() -> Ids:
    session = get_session_context()
    return session.session_id, session.user_id, session.customer_id


# -- generators -------------------------------------------------------------------------


def test_generator_body_sees_the_session_at_every_step() -> None:
    @session_context(session_id="gen", customer_id="acme")
    def produce(count: int) -> Iterator[Ids]:
        """Docstring kept."""
        for _ in range(count):
            yield ids()

    assert inspect.isgeneratorfunction(produce)  # pytest fixtures, FastAPI dependencies
    assert produce.__name__ == "produce" and produce.__doc__ == "Docstring kept."
    seen = []
    with session_context(user_id="consumer"):
        for step in produce(3):
            seen.append(step)
            assert ids() == (None, "consumer", None)  # nothing reaches the consumer
    assert seen == [("gen", "consumer", "acme")] * 3
    assert get_session_context() is EMPTY_SESSION


def test_generator_holds_the_session_of_its_first_step() -> None:
    @session_context(customer_id="acme")
    def produce() -> Iterator[Ids]:
        yield ids()
        yield ids()

    with session_context(user_id="first"):
        generator = produce()
        first = next(generator)
    with session_context(user_id="elsewhere"):
        second = next(generator)
        assert ids() == (None, "elsewhere", None)
    assert first == second == (None, "first", "acme")


def test_what_the_body_sets_does_not_leak_into_the_consumer() -> None:
    @session_context(session_id="gen")
    def produce() -> Iterator[Ids]:
        set_session_context(session_id="set-by-body")  # never cleared
        yield ids()
        yield ids()

    with session_context(session_id="consumer") as consumer:
        steps = []
        for step in produce():
            steps.append(step)
            assert get_session_context() is consumer
    assert steps == [("set-by-body", None, None), ("gen", None, None)]


def test_send_throw_and_close_reach_the_body_inside_the_session() -> None:
    events: list[tuple[str, Ids]] = []

    @session_context(session_id="gen")
    def echo() -> Generator[str, str, str]:
        received = "start"
        try:
            while True:
                try:
                    received = yield received.upper()
                    events.append(("sent", ids()))
                except KeyError:
                    events.append(("thrown", ids()))
                    received = "recovered"
        finally:
            events.append(("closed", ids()))

    generator = echo()
    assert next(generator) == "START"
    assert generator.send("hello") == "HELLO"
    assert generator.throw(KeyError("k")) == "RECOVERED"
    generator.close()
    assert events == [
        ("sent", ("gen", None, None)),
        ("thrown", ("gen", None, None)),
        ("closed", ("gen", None, None)),
    ]
    assert get_session_context() is EMPTY_SESSION


def test_generator_return_value_and_errors_pass_through() -> None:
    @session_context(session_id="gen")
    def delegate() -> Generator[int, None, str]:
        yield 1
        return "done"

    def outer() -> Generator[int, None, str]:
        return (yield from delegate())

    generator = outer()
    assert next(generator) == 1
    with pytest.raises(StopIteration) as stop:
        next(generator)
    assert stop.value.value == "done"

    @session_context(session_id="gen")
    def broken() -> Iterator[int]:
        yield 1
        raise OSError("broken")

    with pytest.raises(OSError, match="broken"):
        list(broken())
    assert get_session_context() is EMPTY_SESSION


def test_resumed_session_decorates_a_generator() -> None:
    captured = SessionContext(session_id="job", user_id="u")

    @session_context.resume(captured)
    def work() -> Iterator[SessionContext]:
        yield get_session_context()

    with session_context(customer_id="ignored"):
        assert list(work()) == [captured]


def test_spans_of_every_step_carry_the_session(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("t")

    @session_context(session_id="stream-1", user_id="u")
    def tokens() -> Iterator[str]:
        for word in ("a", "b", "c"):
            with tracer.start_as_current_span(f"token {word}"):
                yield word

    for _ in tokens():
        tracer.start_span("consumer").end()
    by_name = {span.name: dict(span.attributes or {}) for span in exporter.get_finished_spans()}
    assert by_name.pop("consumer") == {}
    assert by_name == {
        f"token {w}": {"session.id": "stream-1", "user.id": "u"} for w in ("a", "b", "c")
    }


# -- async generators -------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_generator_body_sees_the_session_at_every_step() -> None:
    @session_context(session_id="agen")
    async def produce(count: int) -> AsyncIterator[Ids]:
        for _ in range(count):
            await asyncio.sleep(0)
            yield ids()

    assert inspect.isasyncgenfunction(produce)
    seen = []
    with session_context(user_id="consumer"):
        async for step in produce(3):
            seen.append(step)
            assert ids() == (None, "consumer", None)
    assert seen == [("agen", "consumer", None)] * 3
    assert get_session_context() is EMPTY_SESSION


@pytest.mark.anyio
async def test_async_generator_asend_athrow_aclose_inside_the_session() -> None:
    events: list[tuple[str, Ids]] = []

    @session_context(session_id="agen")
    async def echo() -> AsyncIterator[str]:
        received = "start"
        try:
            while True:
                try:
                    received = yield received.upper()
                    events.append(("sent", ids()))
                except KeyError:
                    events.append(("thrown", ids()))
                    received = "recovered"
        finally:
            await asyncio.sleep(0)
            events.append(("closed", ids()))

    generator = echo()
    assert await generator.asend(None) == "START"  # type: ignore[attr-defined]
    assert await generator.asend("hello") == "HELLO"  # type: ignore[attr-defined]
    assert await generator.athrow(KeyError("k")) == "RECOVERED"  # type: ignore[attr-defined]
    await generator.aclose()  # type: ignore[attr-defined]
    assert events == [
        ("sent", ("agen", None, None)),
        ("thrown", ("agen", None, None)),
        ("closed", ("agen", None, None)),
    ]
    assert get_session_context() is EMPTY_SESSION


@pytest.mark.anyio
async def test_async_generator_interleaved_with_another_leaks_nothing() -> None:
    @session_context(user_id="one")
    async def first() -> AsyncIterator[Ids]:
        for _ in range(3):
            yield ids()

    @session_context(user_id="two")
    async def second() -> AsyncIterator[Ids]:
        for _ in range(3):
            yield ids()

    a, b = first(), second()
    seen = []
    for _ in range(3):
        seen.append((await anext(a), await anext(b), ids()))
    assert seen == [((None, "one", None), (None, "two", None), (None, None, None))] * 3


@pytest.mark.anyio
async def test_decorated_async_generator_streams_with_the_session_in_starlette() -> None:
    """A real StreamingResponse iterates the body in its own task: every chunk
    is produced inside the session, and the request's task never sees it."""
    import httpx

    seen_by_endpoint: list[Ids] = []

    @session_context(session_id="streamed", customer_id="acme")
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(3):
            await asyncio.sleep(0)
            yield f"{index}:{get_session_context().session_id}\n".encode()

    async def endpoint(request: Request) -> StreamingResponse:
        response = StreamingResponse(chunks(), media_type="text/plain")
        seen_by_endpoint.append(ids())
        return response

    app = Starlette(routes=[Route("/", endpoint)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reply = await client.get("/")
    assert reply.text == "0:streamed\n1:streamed\n2:streamed\n"
    assert seen_by_endpoint == [(None, None, None)]
