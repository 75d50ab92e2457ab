"""Run work in other threads with the caller's session (and OpenTelemetry context).

Threads do not inherit context variables: ``ThreadPoolExecutor.submit`` and
``loop.run_in_executor`` run the callable in the worker's own, empty context,
so spans started there lose the session and their parent. ``asyncio.to_thread``
copies the context already. Everything here copies the caller's context at the
moment of the call, as ``asyncio.to_thread`` does.

Usage::

    from otel_genai_session.executor import ContextThreadPoolExecutor

    with ContextThreadPoolExecutor(max_workers=4) as pool:
        pool.submit(call_model, prompt)   # sees the caller's session
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

__all__ = ["ContextThreadPoolExecutor", "bind_context", "run_in_executor"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


def bind_context(func: Callable[_P, _T]) -> Callable[_P, _T]:
    """Return ``func`` bound to a copy of the current context, taken now.

    Each call of the result runs in a fresh copy of that snapshot, so calls may
    run concurrently in several threads and none leaks into another.
    """
    snapshot = contextvars.copy_context()

    @functools.wraps(func)
    def bound(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return snapshot.copy().run(func, *args, **kwargs)

    return bound


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose ``submit`` (and so ``map``) carries the
    submitter's context, session and current span included, into the worker."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


async def run_in_executor(executor: Executor | None, func: Callable[..., _T], /, *args: Any) -> _T:
    """``loop.run_in_executor`` that carries the caller's context into the worker."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(executor, functools.partial(context.run, func, *args))
