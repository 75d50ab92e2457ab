"""Small helpers over the OpenTelemetry context that this package needs twice.

Usage::

    token = attach_baggage({"session.id": "conv-1"})
    ...
    detach_quietly(token)
"""

from __future__ import annotations

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
    from opentelemetry import context as otel_context

    otel_context.detach(token)  # type: ignore[arg-type]
    return True
