"""The span an invocation makes current, when it may stop out of order or in another task.

``TelemetryHandler.start`` makes the invocation's span current so nested work
becomes its child; ``stop`` must then give the context back. Two cases break
a plain attach/detach: stops out of order (start A, start B, stop A, stop B
would leave the ended A current) and a stop in another task than the start
(a streamed body's task), which cannot touch the starting task's context.
Here the current span is a thin wrapper whose span context, once it is
stopped, is that of the span current before it, and each stop unwinds every
stopped span on top of the context it runs in.

Usage::

    current = make_current(span, parent_context)   # the handler's start
    ...
    stop_being_current(current)                    # its stop, from any task
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import SpanContext, Status, StatusCode
    from opentelemetry.util import types

__all__ = ["CurrentSpan", "make_current", "stop_being_current"]


class CurrentSpan(Span):
    """A span made current by :func:`make_current`, as contexts see it.

    It is the span it wraps, with one difference once stopped: its span
    context is that of the span current before it started. A context that
    still holds it (the task that started it, when another task stopped it)
    then gives new spans the parent they would have had. Everything else still
    goes to the ended span, where the SDK ignores writes: a stale reference
    never writes to another span.
    """

    def __init__(self, span: Span, parent_context: Context) -> None:
        self.span = span
        self.parent_context = parent_context
        self.context: Context | None = None
        self.token: object = None
        self.stopped = False

    def __getattr__(self, name: str) -> Any:  # the SDK span's extras: name, attributes, ...
        if name == "span":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.span, name)

    def __repr__(self) -> str:
        return f"CurrentSpan({self.span!r}, stopped={self.stopped})"

    def get_span_context(self) -> SpanContext:
        if self.stopped:
            return trace.get_current_span(self.parent_context).get_span_context()
        return self.span.get_span_context()

    def is_recording(self) -> bool:
        return self.span.is_recording()

    def end(self, end_time: int | None = None) -> None:
        self.span.end(end_time)

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        self.span.set_attributes(attributes)

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        self.span.set_attribute(key, value)

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        self.span.add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        self.span.add_link(context, attributes)

    def update_name(self, name: str) -> None:
        self.span.update_name(name)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self.span.set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self.span.record_exception(exception, attributes, timestamp, escaped)


def make_current(span: Span, parent_context: Context) -> CurrentSpan:
    """Attach a context in which ``span`` (wrapped) is current; return the wrapper."""
    current = CurrentSpan(span, parent_context)
    current.context = trace.set_span_in_context(current, parent_context)
    current.token = otel_context.attach(current.context)
    return current


def stop_being_current(current: CurrentSpan) -> None:
    """Mark ``current`` stopped and take this context back past every stopped
    span on top of it, the way each found it.

    Stopped out of order (a later span is still current here), it is left for
    the later one's stop to skip. Stopped in another task than the one that
    started it, that task's copy of the context moves to the live parent here,
    and the starting task's context, which we cannot touch, gets the parent's
    span context through the stopped wrapper.
    """
    current.stopped = True
    context = otel_context.get_current()
    top = current if context is current.context else _stopped_on_top(context)
    while top is not None:
        if not detach_quietly(top.token):  # attached in another context than this one
            otel_context.attach(_live_parent(top))  # this task's own copy: never detached
            return
        context = top.parent_context  # what the reset put back
        top = _stopped_on_top(context)


def _stopped_on_top(context: Context) -> CurrentSpan | None:
    """The stopped wrapper whose own attach made ``context``, if any."""
    top = trace.get_current_span(context)
    if type(top) is CurrentSpan and top.stopped and top.context is context:
        return top
    return None


def _live_parent(current: CurrentSpan) -> Context:
    """The nearest context below ``current`` whose span is not stopped."""
    context = current.parent_context
    while (top := _stopped_on_top(context)) is not None:
        context = top.parent_context
    return context


def detach_quietly(token: object) -> bool:
    """Restore the context from before ``attach``; False, without OpenTelemetry's
    error log, when that cannot be done here (the token was made in another
    context, e.g. before a task was spawned, or was used already)."""
    if isinstance(token, contextvars.Token):
        try:
            token.var.reset(token)
        except (ValueError, RuntimeError):
            return False
        return True
    if token is None:
        return False
    otel_context.detach(token)  # type: ignore[arg-type]
    return True
