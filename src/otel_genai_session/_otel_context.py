"""Small helpers over the OpenTelemetry context that this package needs twice."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Mapping
from typing import Final

from otel_genai_session.attributes import CUSTOMER_ID, SESSION_ID, USER_HASH, USER_ID

__all__ = ["SESSION_BAGGAGE_KEYS", "attach_baggage", "detach_quietly"]

SESSION_BAGGAGE_KEYS: Final = (SESSION_ID, USER_ID, USER_HASH, CUSTOMER_ID)


def attach_baggage(entries: Mapping[str, str]) -> object:
    """Make ``entries`` the session entries of the current W3C Baggage.

    Session keys that ``entries`` lacks are removed, so an inbound client's
    ``baggage`` header can never ride along as ours. Returns the token to detach.
    """
    from opentelemetry import baggage
    from opentelemetry import context as otel_context

    ctx = otel_context.get_current()
    for key in SESSION_BAGGAGE_KEYS:
        value = entries.get(key)
        if value is not None:
            ctx = baggage.set_baggage(key, value, ctx)
        elif baggage.get_baggage(key, ctx) is not None:
            ctx = baggage.remove_baggage(key, ctx)
    return otel_context.attach(ctx)


def detach_quietly(token: object) -> None:
    """Restore the context from before ``attach``, without OpenTelemetry's error
    log when it runs in another context (a streamed body, another task)."""
    if isinstance(token, contextvars.Token):
        with contextlib.suppress(ValueError, RuntimeError):
            token.var.reset(token)
    elif token is not None:
        from opentelemetry import context as otel_context

        otel_context.detach(token)  # type: ignore[arg-type]
