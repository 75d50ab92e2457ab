"""Small helpers over the OpenTelemetry context that this package needs twice."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Mapping

from opentelemetry import baggage
from opentelemetry import context as otel_context

__all__ = ["attach_baggage", "detach_quietly"]


def attach_baggage(entries: Mapping[str, str]) -> object:
    """Make ``entries`` current as W3C Baggage; returns the token to detach."""
    ctx = otel_context.get_current()
    for key, value in entries.items():
        ctx = baggage.set_baggage(key, value, ctx)
    return otel_context.attach(ctx)


def detach_quietly(token: object) -> None:
    """Restore the context from before ``attach``, without OpenTelemetry's error
    log when it runs in another context (a streamed body, another task)."""
    if isinstance(token, contextvars.Token):
        with contextlib.suppress(ValueError, RuntimeError):
            token.var.reset(token)
    elif token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]
