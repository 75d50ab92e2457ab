"""The session store: which conversation, user and tenant the running code serves.

The session lives in its own :class:`contextvars.ContextVar`, not in the
OpenTelemetry ``Context``: server instrumentations attach a freshly extracted
OpenTelemetry context for each request, which would wipe anything kept there.
A ContextVar survives that, is copied into asyncio tasks (so ``gather``-ed
tasks are isolated) and is never shared between threads.

This module is the public face of the store: :class:`SessionContext` and the
manual API (defined in ``_store``), :class:`session_context`, and the
resolution that lets environment variables fill the ids a session lacks.

Usage::

    from otel_genai_session import session_context

    with session_context(session_id="conv-123", user_id="user-456"):
        ...  # every span started here carries session.id and user.id

    with session_context(properties={"experiment": "b"}):
        ...  # ... and otel_genai_session.property.experiment

Properties are bounded: at most ``MAX_PROPERTIES`` (16) per session, keys of
1 to ``MAX_PROPERTY_KEY_LENGTH`` (64) characters, dot-separated segments of
ASCII letters, digits, ``_`` and ``-``, values through the ids' validation
rule. What breaks a bound is dropped and logged once per cause, without the
key or the value. They are exported as ``PROPERTY_PREFIX + key``
(:mod:`otel_genai_session.attributes`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Final, TypeVar, cast

from otel_genai_session._env_fallback import (
    env_ids_unset,
    resolve_ids,
    resolve_session,
    session_attributes,
)
from otel_genai_session._otel_context import propagating, stop_propagating
from otel_genai_session._properties import (
    MAX_PROPERTIES,
    MAX_PROPERTY_KEY_LENGTH,
    PROPERTY_KEY_PATTERN,
    SessionProperties,
)
from otel_genai_session._store import (
    EMPTY_SESSION,
    SESSION_FIELDS,
    SessionContext,
    clear_session_context,
    get_session_context,
    set_session_context,
)
from otel_genai_session._store import _current as _current
from otel_genai_session._validation import warn_once

__all__ = [
    "EMPTY_SESSION",
    "MAX_PROPERTIES",
    "MAX_PROPERTY_KEY_LENGTH",
    "PROPERTY_KEY_PATTERN",
    "SESSION_FIELDS",
    "SessionContext",
    "SessionProperties",
    "clear_session_context",
    "env_ids_unset",
    "get_session_context",
    "resolve_ids",
    "resolve_session",
    "session_attributes",
    "session_context",
    "set_session_context",
]

EXIT_WITHOUT_ENTER: Final = "session_context exited where it was not entered; ignored"

_F = TypeVar("_F", bound=Callable[..., Any])


_OpenScope = tuple["session_context", Token[SessionContext], object]
"""A scope entered and not yet exited: (scope, session token, baggage token)."""

# The scopes open in this context, innermost last: how an exit finds the token
# its own enter made, wherever else the same instance is open at the same time.
_open_scopes: Final[ContextVar[tuple[_OpenScope, ...]]] = ContextVar(
    "otel_genai_session.open_scopes", default=()
)


class session_context:
    """Put ids in effect for a block, a function, a coroutine or a generator.

    Nested, the arguments given override and those left None are inherited
    from the enclosing session; ``properties`` are inherited and overridden
    per key (a key given the value None is removed). On exit the previous session is restored
    exactly, also when the block raises. Works with ``with`` and ``async
    with``, and as a decorator of functions and coroutine functions (the
    session is entered on each call) and of generator and async generator
    functions (the session in effect at the first step is held over every
    step, and none of it reaches the consumer between steps). One instance may
    be open in several tasks or threads at once.

    With ``propagate_baggage=True`` the ids of the session in effect go out in
    the ``baggage`` header of every request an OpenTelemetry-instrumented
    client sends in the block (``session.id``, ``user.id`` or, when hashing is
    on, ``user.hash``, ``customer.id``; see :mod:`otel_genai_session.propagation`);
    nested sessions inherit the switch. Off by default: baggage leaves the process.
    """

    __slots__ = ("_baggage", "_ids", "_properties", "_resumed")

    def __init__(
        self,
        session_id: str | None = None,
        user_id: str | None = None,
        customer_id: str | None = None,
        *,
        properties: Mapping[str, str | None] | None = None,
        propagate_baggage: bool = False,
    ) -> None:
        self._ids = (session_id, user_id, customer_id)
        # Copied: the caller's dict may change before the block is entered.
        self._properties = dict(properties) if isinstance(properties, Mapping) else properties
        self._baggage = propagate_baggage
        self._resumed: SessionContext | None = None

    @classmethod
    def resume(cls, session: SessionContext, *, propagate_baggage: bool = False) -> session_context:
        """Put exactly ``session`` back in effect, e.g. where a queued job runs.

        Unlike ``session_context(...)``, nothing is inherited from the session
        in effect: the captured session replaces it for the block, and the
        propagation switch is exactly ``propagate_baggage`` (a job resumed in
        a task started inside a propagating request does not send its ids
        anywhere unless asked), both restored on exit. Capture with
        :func:`get_session_context` when the job is made (a ``SessionContext``
        is an immutable value: it pickles and can cross processes)::

            queue.put_nowait((prompt, get_session_context()))
            ...
            prompt, session = await queue.get()
            with session_context.resume(session):
                await call_model(prompt)
        """
        if not isinstance(session, SessionContext):
            raise TypeError(f"session must be a SessionContext, not {session!r}")
        resumed = cls(propagate_baggage=propagate_baggage)
        resumed._resumed = session
        return resumed

    def __enter__(self) -> SessionContext:
        session = self._resumed or self._overlaid()
        token = _current.set(session)
        baggage_token = None
        if self._baggage or self._resumed is not None:  # resumed: exactly the switch given
            # Imported here: the propagator module loads OpenTelemetry's propagators.
            from otel_genai_session.propagation import set_propagating

            baggage_token = set_propagating(self._baggage)
        _open_scopes.set((*_open_scopes.get(), (self, token, baggage_token)))
        return session

    def _overlaid(self) -> SessionContext:
        """The session in effect with this scope's ids and properties over it."""
        session_id, user_id, customer_id = self._ids
        if self._properties is None:
            return _current.get().overlay(session_id, user_id, customer_id)
        return _current.get().overlay(
            session_id, user_id, customer_id, "session_context()", self._properties
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entries = _open_scopes.get()
        if entries and entries[-1][0] is self:  # the innermost: exits are nested
            _, token, baggage_token = entries[-1]
            _open_scopes.set(entries[:-1])
        else:
            found = [i for i, entry in enumerate(entries) if entry[0] is self]
            if not found:
                warn_once(EXIT_WITHOUT_ENTER)
                return
            index = found[-1]
            _, token, baggage_token = entries[index]
            _open_scopes.set(entries[:index] + entries[index + 1 :])
        try:
            _current.reset(token)
        except (ValueError, RuntimeError):  # entered in another context: the manual API's rule
            clear_session_context(token)
        if baggage_token is not None:
            stop_propagating(baggage_token)

    async def __aenter__(self) -> SessionContext:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def _held(self) -> session_context:
        """A scope that puts back, step after step, the session this one would enter now."""
        session = self._resumed or self._overlaid()
        switch = self._baggage
        if self._resumed is None and not switch:  # a nested session inherits the switch
            switch = propagating()
        return session_context.resume(session, propagate_baggage=switch)

    def __call__(self, func: _F) -> _F:
        # inspect is imported here, not at import time: it is slow to load.
        from inspect import isasyncgenfunction, iscoroutinefunction, isgeneratorfunction

        if isasyncgenfunction(func):
            return cast(_F, _async_generator_in_scope(self._held, func))
        if isgeneratorfunction(func):
            return cast(_F, _generator_in_scope(self._held, func))
        if iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

            return cast(_F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return cast(_F, wrapper)


# Generator functions decorated with session_context.
#
# Decorate generator functions so that a scope is held over every step.
#
# A generator's body runs at each ``next()``, not when the function is called,
# so a decorator that enters a scope around the call covers nothing of the body.
# These wrappers enter the scope around each step instead, and leave it before
# the value goes to the consumer: the body sees the scope at every step, the
# consumer never sees it between steps. ``send``, ``throw`` and ``close`` (and
# their async forms) reach the wrapped generator inside the scope too.
#
# The wrappers are themselves generator (async generator) functions, so
# ``inspect.isgeneratorfunction`` and the frameworks that rely on it (pytest
# fixtures, FastAPI dependencies) still recognise the decorated function.

_ScopeFactory = Callable[[], AbstractContextManager[Any]]
"""Called once, at the first step: the scope to hold over every step."""


def _generator_in_scope(
    make_scope: _ScopeFactory, func: Callable[..., Generator[Any, Any, Any]]
) -> Callable[..., Generator[Any, Any, Any]]:
    """``func`` with the scope ``make_scope()`` entered around each step."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        scope = make_scope()
        generator = func(*args, **kwargs)
        step: Callable[[Any], Any] = generator.send
        value: Any = None
        while True:
            with scope:
                try:
                    item = step(value)
                except StopIteration as stop:
                    return stop.value
            try:
                value = yield item
                step = generator.send
            except GeneratorExit:
                with scope:
                    generator.close()
                raise
            except BaseException as error:  # thrown in by the consumer: pass it on
                step, value = generator.throw, error

    return wrapper


def _async_generator_in_scope(
    make_scope: _ScopeFactory, func: Callable[..., AsyncGenerator[Any, Any]]
) -> Callable[..., AsyncGenerator[Any, Any]]:
    """``func`` with the scope ``make_scope()`` entered around each step."""

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        scope = make_scope()
        generator = func(*args, **kwargs)
        step: Callable[[Any], Any] = generator.asend
        value: Any = None
        while True:
            with scope:
                try:
                    item = await step(value)
                except StopAsyncIteration:
                    return
            try:
                value = yield item
                step = generator.asend
            except GeneratorExit:
                with scope:
                    await generator.aclose()
                raise
            except BaseException as error:  # thrown in by the consumer: pass it on
                step, value = generator.athrow, error

    return wrapper
