"""Decorate generator functions so that a scope is held over every step.

A generator's body runs at each ``next()``, not when the function is called,
so a decorator that enters a scope around the call covers nothing of the body.
These wrappers enter the scope around each step instead, and leave it before
the value goes to the consumer: the body sees the scope at every step, the
consumer never sees it between steps. ``send``, ``throw`` and ``close`` (and
their async forms) reach the wrapped generator inside the scope too.

The wrappers are themselves generator (async generator) functions, so
``inspect.isgeneratorfunction`` and the frameworks that rely on it (pytest
fixtures, FastAPI dependencies) still recognise the decorated function.

Usage::

    wrapper = generator_in_scope(lambda: session_context.resume(session), produce)
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["async_generator_in_scope", "generator_in_scope"]

ScopeFactory = Callable[[], AbstractContextManager[Any]]
"""Called once, at the first step: the scope to hold over every step."""


def generator_in_scope(
    make_scope: ScopeFactory, func: Callable[..., Generator[Any, Any, Any]]
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


def async_generator_in_scope(
    make_scope: ScopeFactory, func: Callable[..., AsyncGenerator[Any, Any]]
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
