"""One line to trace every LangChain and LangGraph run: :func:`instrument_langchain`.

langchain_core builds a callback manager for each run and, while doing so,
asks each registered *configure hook* for a handler to add: the hook is a
context variable it calls ``.get()`` on. A real ``ContextVar`` is per thread
and per task, and a value set at start-up is not seen by server threads that
started earlier; the hook here is a process-wide slot with the same ``get()``,
registered once. Instrumenting fills the slot, uninstrumenting empties it, so
both are cheap, idempotent and never touch LangChain's classes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any, cast

from langchain_core.tracers.context import register_configure_hook
from opentelemetry import metrics, trace

from otel_genai_session._validation import warn_once
from otel_genai_session.langchain._callback import OpenTelemetryCallbackHandler

__all__ = ["installed_handler", "instrument_langchain", "uninstrument_langchain"]

ALREADY_INSTRUMENTED = "instrument_langchain: LangChain is instrumented already; arguments ignored"

_lock = threading.Lock()
_installed: OpenTelemetryCallbackHandler | None = None
_registered = False


class _GlobalSlot:
    """Quacks like the ``ContextVar`` langchain_core's configure hooks read, but is
    the same in every thread and task."""

    __slots__ = ()

    def get(self) -> OpenTelemetryCallbackHandler | None:
        return _installed


def installed_handler() -> OpenTelemetryCallbackHandler | None:
    """The handler :func:`instrument_langchain` installed, or None."""
    return _installed


def instrument_langchain(
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    *,
    metadata_keys: Mapping[str, str] | None = None,
    agent_names: Iterable[str] | None = None,
) -> OpenTelemetryCallbackHandler:
    """Trace every LangChain/LangGraph run from now on; returns the handler used.

    Runs that get an :class:`OpenTelemetryCallbackHandler` in their own
    ``config["callbacks"]`` keep that one (no duplicate spans). Calling again
    while instrumented returns the installed handler unchanged (arguments
    ignored, with a warning if any is given). Arguments are those of
    :class:`OpenTelemetryCallbackHandler`.
    """
    global _installed, _registered
    with _lock:
        if _installed is not None:
            if any(
                option is not None
                for option in (tracer_provider, meter_provider, metadata_keys, agent_names)
            ):
                warn_once(ALREADY_INSTRUMENTED)
            return _installed
        handler = OpenTelemetryCallbackHandler(
            tracer_provider,
            meter_provider,
            metadata_keys=metadata_keys,
            agent_names=agent_names,
        )
        if not _registered:
            register_configure_hook(
                cast("ContextVar[Any]", _GlobalSlot()),
                True,  # inheritable: child runs keep the handler
                OpenTelemetryCallbackHandler,  # not added where one is present already
            )
            _registered = True
        _installed = handler
        return handler


def uninstrument_langchain() -> None:
    """Stop adding the handler to new runs; runs in flight still end their spans."""
    global _installed
    with _lock:
        _installed = None
