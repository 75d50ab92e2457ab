"""The session store: values, nesting, restore, env fallback and isolation."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import inspect
import logging
import os
import threading
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import _validation
from otel_genai_session._store import TOKEN_USED
from otel_genai_session.attributes import SESSION_ATTRIBUTE_KEYS
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.session import (
    EMPTY_SESSION,
    EXIT_WITHOUT_ENTER,
    SessionContext,
    clear_session_context,
    get_session_context,
    resolve_session,
    session_attributes,
    session_context,
    set_session_context,
)
from otel_genai_session.types import LLMInvocation

ENV_SESSION = "OTEL_INSTRUMENTATION_GENAI_SESSION_ID"
ENV_USER = "OTEL_INSTRUMENTATION_GENAI_USER_ID"
ENV_CUSTOMER = "OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID"


def ids_of(span: ReadableSpan) -> dict[str, object]:
    attributes: Mapping[str, object] = span.attributes or {}
    return {key: attributes[key] for key in SESSION_ATTRIBUTE_KEYS if key in attributes}


def triple(session: SessionContext) -> tuple[str | None, str | None, str | None]:
    return session.session_id, session.user_id, session.customer_id


# -- SessionContext ------------------------------------------------------------------


def test_get_session_context_is_never_none() -> None:
    session = get_session_context()
    assert session is not None
    assert isinstance(session, SessionContext)
    assert session.is_empty()
    assert triple(session) == (None, None, None)
    assert session == EMPTY_SESSION


def test_session_context_is_frozen() -> None:
    session = SessionContext(session_id="s", user_id="u", customer_id="c")
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.session_id = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.user_id = None  # type: ignore[misc]
    assert triple(session) == ("s", "u", "c")


@pytest.mark.parametrize(
    ("kwargs", "empty"),
    [
        pytest.param({}, True, id="nothing"),
        pytest.param({"session_id": "s"}, False, id="session"),
        pytest.param({"user_id": "u"}, False, id="user"),
        pytest.param({"customer_id": "c"}, False, id="customer"),
        pytest.param({"session_id": "s", "user_id": "u", "customer_id": "c"}, False, id="all"),
        pytest.param({"session_id": "bad\n id"}, True, id="invalid-only"),
    ],
)
def test_is_empty(kwargs: dict[str, str], empty: bool) -> None:
    assert SessionContext(**kwargs).is_empty() is empty


def test_session_context_value_semantics() -> None:
    a = SessionContext(session_id="s", user_id="u")
    b = SessionContext(session_id="s", user_id="u")
    assert a == b
    assert hash(a) == hash(b)
    assert a != SessionContext(session_id="s")
    assert "attributes" not in repr(a)
    assert a.attributes == {"session.id": "s", "user.id": "u"}


def test_session_context_validates_on_construction() -> None:
    session = SessionContext(session_id=" s ", user_id=12, customer_id="x\ny")  # type: ignore[arg-type]
    assert triple(session) == ("s", "12", None)
    assert session.attributes == {"session.id": "s", "user.id": "12"}


# -- session_context() ---------------------------------------------------------------


def test_session_context_yields_the_effective_session() -> None:
    with session_context(session_id="s", user_id="u", customer_id="c") as session:
        assert isinstance(session, SessionContext)
        assert triple(session) == ("s", "u", "c")
        assert get_session_context() is session
    assert get_session_context().is_empty()


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        pytest.param(("s1", "u1", "c1"), (None, None, None), ("s1", "u1", "c1"), id="inherit-all"),
        pytest.param(("s1", "u1", "c1"), ("s2", None, None), ("s2", "u1", "c1"), id="override-one"),
        pytest.param(("s1", None, "c1"), (None, "u2", None), ("s1", "u2", "c1"), id="fill-gap"),
        pytest.param(("s1", "u1", "c1"), ("s2", "u2", "c2"), ("s2", "u2", "c2"), id="override-all"),
        pytest.param((None, None, None), (None, "u2", None), (None, "u2", None), id="empty-outer"),
        pytest.param(("s1", "u1", None), ("bad\nid", None, None), ("s1", "u1", None), id="invalid"),
    ],
)
def test_nested_session_context(
    outer: tuple[str | None, str | None, str | None],
    inner: tuple[str | None, str | None, str | None],
    expected: tuple[str | None, str | None, str | None],
) -> None:
    with session_context(*outer) as outer_session:
        with session_context(*inner) as inner_session:
            assert triple(inner_session) == expected
            assert triple(get_session_context()) == expected
        assert get_session_context() is outer_session
    assert get_session_context() is EMPTY_SESSION


def test_previous_state_restored_exactly_also_when_raising() -> None:
    token = set_session_context(session_id="manual", user_id="u0")
    try:
        before = get_session_context()
        with (
            pytest.raises(RuntimeError, match="boom"),
            session_context(session_id="s1", customer_id="c1"),
            session_context(user_id="u2"),
        ):
            assert triple(get_session_context()) == ("s1", "u2", "c1")
            raise RuntimeError("boom")
        assert get_session_context() is before
    finally:
        clear_session_context(token)
    assert get_session_context() is EMPTY_SESSION


def test_exception_propagates_unchanged() -> None:
    error = ValueError("kept")
    with pytest.raises(ValueError) as caught, session_context(session_id="s"):
        raise error
    assert caught.value is error


def test_same_instance_can_be_nested() -> None:
    scope = session_context(customer_id="acme")
    with session_context(user_id="u"), scope:
        with session_context(user_id="v"), scope:
            assert triple(get_session_context()) == (None, "v", "acme")
        assert triple(get_session_context()) == (None, "u", "acme")
    assert get_session_context().is_empty()


def test_exit_where_the_scope_was_not_entered_is_ignored_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Entered in one context, exited in another (a copy made before the enter):
    the session in effect there is left alone, and it is logged once."""
    _validation._reported.clear()
    scope = session_context(session_id="elsewhere")
    with session_context(session_id="here") as here:
        outside = contextvars.copy_context()
        scope.__enter__()
        with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
            outside.run(scope.__exit__, None, None, None)
            outside.run(scope.__exit__, None, None, None)
        assert outside.run(get_session_context) is here
        assert get_session_context().session_id == "elsewhere"
        scope.__exit__(None, None, None)
        assert get_session_context() is here
    assert [r.getMessage() for r in caplog.records] == [EXIT_WITHOUT_ENTER]


@pytest.mark.anyio
async def test_async_with() -> None:
    async with session_context(session_id="s", user_id="u") as session:
        assert triple(session) == ("s", "u", None)
        await asyncio.sleep(0)
        async with session_context(customer_id="c"):
            await asyncio.sleep(0)
            assert triple(get_session_context()) == ("s", "u", "c")
        assert get_session_context() is session
    assert get_session_context().is_empty()


@pytest.mark.anyio
async def test_async_restore_when_raising() -> None:
    with session_context(session_id="outer") as outer:
        with pytest.raises(KeyError):
            async with session_context(session_id="inner"):
                await asyncio.sleep(0)
                raise KeyError("x")
        assert get_session_context() is outer
        with pytest.raises(KeyError), session_context(session_id="inner-sync"):
            await asyncio.sleep(0)
            raise KeyError("y")
        assert get_session_context() is outer


def test_decorator_on_sync_function() -> None:
    seen: list[tuple[str | None, str | None, str | None]] = []

    @session_context(session_id="decorated", customer_id="acme")
    def work(x: int) -> int:
        """Docstring kept."""
        seen.append(triple(get_session_context()))
        return x * 2

    assert get_session_context().is_empty()  # decorating does not enter
    assert work(2) == 4
    with session_context(user_id="caller"):
        assert work(3) == 6
    assert seen == [("decorated", None, "acme"), ("decorated", "caller", "acme")]
    assert work.__name__ == "work"
    assert work.__doc__ == "Docstring kept."
    assert get_session_context().is_empty()


def test_decorator_restores_when_function_raises() -> None:
    @session_context(session_id="decorated")
    def fail() -> None:
        raise OSError("nope")

    with pytest.raises(OSError, match="nope"):
        fail()
    assert get_session_context().is_empty()


@pytest.mark.anyio
async def test_decorator_on_async_function() -> None:
    @session_context(session_id="async-decorated")
    async def work(delay: float) -> tuple[str | None, str | None, str | None]:
        await asyncio.sleep(delay)
        return triple(get_session_context())

    assert inspect.iscoroutinefunction(work)
    assert await work(0) == ("async-decorated", None, None)
    with session_context(user_id="caller"):
        assert await work(0) == ("async-decorated", "caller", None)
    # concurrent calls of the same decorated coroutine function
    results = await asyncio.gather(*(work(0.001 * (i % 3)) for i in range(10)))
    assert results == [("async-decorated", None, None)] * 10
    assert get_session_context().is_empty()


@pytest.mark.anyio
async def test_decorated_coroutine_restores_when_raising() -> None:
    @session_context(session_id="async-decorated")
    async def fail() -> None:
        await asyncio.sleep(0)
        raise LookupError("x")

    with pytest.raises(LookupError):
        await fail()
    assert get_session_context().is_empty()


@pytest.mark.anyio
async def test_shared_instance_in_concurrent_tasks_restores_each_task() -> None:
    """One module-level scope used with ``async with`` by overlapping tasks.

    Each task must get back its own session, whatever order the tasks leave in.
    """
    shared = session_context(customer_id="shared")
    after: dict[str, tuple[str | None, str | None, str | None]] = {}

    async def task(user: str, hold: float, later: float) -> None:
        with session_context(user_id=user):
            async with shared:
                await asyncio.sleep(hold)
                assert triple(get_session_context()) == (None, user, "shared")
            after[user] = triple(get_session_context())
            await asyncio.sleep(later)
            assert triple(get_session_context()) == (None, user, None)

    await asyncio.gather(task("a", 0.01, 0.03), task("b", 0.02, 0.0), task("c", 0.0, 0.01))
    assert after == {"a": (None, "a", None), "b": (None, "b", None), "c": (None, "c", None)}


def test_shared_instance_in_concurrent_threads_restores_each_thread() -> None:
    shared = session_context(customer_id="shared")
    barrier = threading.Barrier(4)
    errors: list[str] = []

    def worker(n: int) -> None:
        for i in range(200):
            with session_context(user_id=f"u-{n}-{i}"):
                with shared:
                    if i == 0:
                        barrier.wait(timeout=10)
                    if triple(get_session_context()) != (None, f"u-{n}-{i}", "shared"):
                        errors.append(f"inside {n} {i}")
                if triple(get_session_context()) != (None, f"u-{n}-{i}", None):
                    errors.append(f"after {n} {i}: {get_session_context()}")
            if not get_session_context().is_empty():
                errors.append(f"leak {n} {i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []


@settings(max_examples=100, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "s1", "s2"]),
            st.sampled_from([None, "u1", "u2"]),
            st.sampled_from([None, "c1", "c2"]),
        ),
        max_size=6,
    )
)
def test_arbitrary_nesting_overlays_and_restores(
    levels: list[tuple[str | None, str | None, str | None]],
) -> None:
    def nest(depth: int, expected: tuple[str | None, str | None, str | None]) -> None:
        if depth == len(levels):
            return
        given_ids = levels[depth]
        effective = tuple(
            given if given is not None else inherited
            for given, inherited in zip(given_ids, expected, strict=True)
        )
        before = get_session_context()
        with session_context(*given_ids) as session:
            assert triple(session) == effective
            nest(depth + 1, effective)  # type: ignore[arg-type]
            assert get_session_context() is session
        assert get_session_context() is before

    nest(0, (None, None, None))
    assert get_session_context() is EMPTY_SESSION


# -- set / clear ---------------------------------------------------------------------


def test_set_session_context_replaces_the_whole_context() -> None:
    with session_context(session_id="s", user_id="u", customer_id="c"):
        token = set_session_context(user_id="only-user")
        assert triple(get_session_context()) == (None, "only-user", None)
        clear_session_context(token)
        assert triple(get_session_context()) == ("s", "u", "c")


def test_set_returns_a_token_and_clear_with_it_restores() -> None:
    first = set_session_context(session_id="first", user_id="u1")
    first_session = get_session_context()
    second = set_session_context(session_id="second", customer_id="c2")
    assert isinstance(second, contextvars.Token)
    assert triple(get_session_context()) == ("second", None, "c2")
    clear_session_context(second)
    assert get_session_context() is first_session
    clear_session_context(first)
    assert get_session_context() is EMPTY_SESSION


def test_clear_without_token_empties() -> None:
    set_session_context(session_id="s", user_id="u", customer_id="c")
    assert not get_session_context().is_empty()
    clear_session_context()
    assert get_session_context().is_empty()
    clear_session_context()  # clearing twice is harmless
    assert get_session_context().is_empty()


def test_clear_with_used_token_does_not_raise() -> None:
    token = set_session_context(session_id="s")
    clear_session_context(token)
    clear_session_context(token)  # used already: falls back to the old value
    assert get_session_context().is_empty()


def test_clear_with_a_used_token_keeps_the_newer_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A used token never clobbers what was set since: ignored, logged once."""
    _validation._reported.clear()
    first = set_session_context(session_id="first")
    clear_session_context(first)
    second = set_session_context(session_id="second", user_id="u2")
    newer = get_session_context()
    with caplog.at_level(logging.WARNING, logger="otel_genai_session"):
        clear_session_context(first)
        clear_session_context(first)
    assert get_session_context() is newer
    assert [r.getMessage() for r in caplog.records] == [TOKEN_USED]
    clear_session_context(second)
    assert get_session_context() is EMPTY_SESSION


def test_clear_with_a_token_of_another_variable_raises() -> None:
    other: contextvars.ContextVar[str] = contextvars.ContextVar("other")
    token = other.set("x")
    with pytest.raises(ValueError, match="set_session_context"):
        clear_session_context(token)  # type: ignore[arg-type]
    other.reset(token)


def test_clear_with_token_from_another_context_does_not_raise() -> None:
    with session_context(session_id="outer"):
        outer = get_session_context()
        ctx = contextvars.copy_context()
        token = ctx.run(set_session_context, session_id="elsewhere")
        clear_session_context(token)  # made in ctx: restores its old value here
        assert get_session_context() == outer


def test_set_session_context_validates() -> None:
    token = set_session_context(session_id="ok", user_id="bad\x00", customer_id=5)  # type: ignore[arg-type]
    try:
        assert triple(get_session_context()) == ("ok", None, "5")
    finally:
        clear_session_context(token)


# -- resolution: explicit > session > env ----------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "session", "env", "expected"),
    [
        pytest.param(
            ("e", None, None), ("s", "u", None), (None, None, "ec"), ("e", "u", "ec"), id="mixed"
        ),
        pytest.param(
            (None, None, None),
            (None, None, None),
            ("es", "eu", "ec"),
            ("es", "eu", "ec"),
            id="env-only",
        ),
        pytest.param(
            (None, None, None), ("s", "u", "c"), ("es", "eu", "ec"), ("s", "u", "c"), id="session"
        ),
        pytest.param(
            ("e1", "e2", "e3"), ("s", "u", "c"), ("es", "eu", "ec"), ("e1", "e2", "e3"), id="all"
        ),
        pytest.param(
            (None, "e2", None), (None, None, "c"), ("es", None, None), ("es", "e2", "c"), id="each"
        ),
        pytest.param(
            (None, None, None),
            (None, None, None),
            (None, None, None),
            (None, None, None),
            id="none",
        ),
    ],
)
def test_each_field_resolves_on_its_own(
    explicit: tuple[str | None, str | None, str | None],
    session: tuple[str | None, str | None, str | None],
    env: tuple[str | None, str | None, str | None],
    expected: tuple[str | None, str | None, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable, value in zip((ENV_SESSION, ENV_USER, ENV_CUSTOMER), env, strict=True):
        if value is not None:
            monkeypatch.setenv(variable, value)
    with session_context(*session):
        assert triple(resolve_session(*explicit)) == expected
        inv = LLMInvocation(
            request_model="m",
            session_id=explicit[0],
            user_id=explicit[1],
            customer_id=explicit[2],
        )
        assert (inv.session_id, inv.user_id, inv.customer_id) == expected


def test_resolve_returns_the_current_session_when_nothing_changes() -> None:
    with session_context(session_id="s", user_id="u") as session:
        assert resolve_session() is session
        assert resolve_session(session_id="s") is session


def test_env_vars_read_at_use_time(
    monkeypatch: pytest.MonkeyPatch,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    tracer = tracer_provider.get_tracer("t")
    tracer.start_span("before").end()
    monkeypatch.setenv(ENV_SESSION, "env-session")
    monkeypatch.setenv(ENV_CUSTOMER, "env-customer")
    tracer.start_span("after-set").end()
    assert session_attributes() == {"session.id": "env-session", "customer.id": "env-customer"}
    monkeypatch.setenv(ENV_SESSION, "changed")
    monkeypatch.delenv(ENV_CUSTOMER)
    tracer.start_span("after-change").end()
    with session_context(user_id="ctx-user"):
        tracer.start_span("with-session").end()
        assert session_attributes() == {"session.id": "changed", "user.id": "ctx-user"}
    spans = {span.name: ids_of(span) for span in exporter.get_finished_spans()}
    assert spans == {
        "before": {},
        "after-set": {"session.id": "env-session", "customer.id": "env-customer"},
        "after-change": {"session.id": "changed"},
        "with-session": {"session.id": "changed", "user.id": "ctx-user"},
    }


def test_env_values_are_decoded_like_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_USER, "  café-ü  ")
    assert session_attributes() == {"user.id": "café-ü"}
    assert resolve_session().user_id == "café-ü"


def test_env_fallback_works_with_a_replaced_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Some tools swap ``os.environ`` for a plain mapping: the fallback still reads it."""
    monkeypatch.setattr(os, "environ", {ENV_SESSION: "from-dict"})
    assert session_attributes() == {"session.id": "from-dict"}
    assert resolve_session().session_id == "from-dict"


def test_get_session_context_is_the_one_getter() -> None:
    from otel_genai_session import session

    assert not hasattr(session, "current_session")
    assert get_session_context() is EMPTY_SESSION
    with session_context(session_id="s") as entered:
        assert get_session_context() is entered


# -- isolation -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_100_concurrent_tasks_are_isolated(
    handler: TelemetryHandler,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    tracer = tracer_provider.get_tracer("isolation")

    async def request(i: int) -> None:
        async with session_context(session_id=f"s-{i}", user_id=f"u-{i}", customer_id=f"c-{i}"):
            for j in range(3):
                await asyncio.sleep(0)
                with handler.llm(LLMInvocation(request_model=f"model-{i}")):
                    await asyncio.sleep(0.001 * ((i + j) % 3))
                    tracer.start_span(f"plain-{i}-{j}").end()
                await asyncio.sleep(0)
        assert get_session_context().is_empty()

    await asyncio.gather(*(request(i) for i in range(100)))

    spans = exporter.get_finished_spans()
    assert len(spans) == 100 * 3 * 2
    for span in spans:
        i = span.name.split("-")[1]
        assert ids_of(span) == {
            "session.id": f"s-{i}",
            "user.id": f"u-{i}",
            "customer.id": f"c-{i}",
        }


@pytest.mark.anyio
async def test_tasks_inherit_a_copy_and_do_not_leak_back() -> None:
    async def child() -> tuple[str | None, str | None, str | None]:
        inherited = triple(get_session_context())
        set_session_context(session_id="child-only")  # stays in the task's copy
        return inherited

    with session_context(session_id="parent", user_id="u") as parent:
        assert await asyncio.create_task(child()) == ("parent", "u", None)
        assert get_session_context() is parent


def test_8_threads_x_100_iterations_are_isolated(
    handler: TelemetryHandler,
    tracer_provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    tracer = tracer_provider.get_tracer("isolation")
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(100):
                with (
                    session_context(
                        session_id=f"s-{t}-{i}", user_id=f"u-{t}-{i}", customer_id=f"c-{t}-{i}"
                    ),
                    handler.llm(LLMInvocation(request_model=f"m-{t}-{i}")),
                ):
                    tracer.start_span(f"plain-{t}-{i}").end()
                assert get_session_context().is_empty()
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    with session_context(session_id="main-thread"):
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    spans = exporter.get_finished_spans()
    assert len(spans) == 8 * 100 * 2
    for span in spans:
        _, t, i = span.name.split(" ")[-1].split("-")
        assert ids_of(span) == {
            "session.id": f"s-{t}-{i}",
            "user.id": f"u-{t}-{i}",
            "customer.id": f"c-{t}-{i}",
        }


def test_threads_do_not_inherit_the_parent_session(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    seen: list[SessionContext] = []

    def worker() -> None:
        seen.append(get_session_context())
        tracer_provider.get_tracer("t").start_span("in-thread").end()

    with session_context(session_id="parent", user_id="u", customer_id="c"):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(timeout=10)
    assert seen == [EMPTY_SESSION]
    (span,) = exporter.get_finished_spans()
    assert ids_of(span) == {}


def test_session_set_in_a_thread_stays_there() -> None:
    def worker() -> None:
        set_session_context(session_id="thread-only")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=10)
    assert get_session_context().is_empty()


def test_attributes_are_read_only() -> None:
    """Sessions are shared between requests and tasks: nobody may edit one in place."""
    session = SessionContext(session_id="s", user_id="u")
    with pytest.raises(TypeError):
        session.attributes["session.id"] = "other"  # type: ignore[index]
    assert dict(session.attributes) == {"session.id": "s", "user.id": "u"}
