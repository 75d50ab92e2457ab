"""The propagation switch: whether the session's ids go out in ``baggage`` here.

A plain :class:`~contextvars.ContextVar` next to the session's own: server
instrumentations that attach a freshly extracted OpenTelemetry context on every
request cannot wipe it, and reading it costs nothing at import (no
OpenTelemetry module is loaded). It sits below both the session API and the
propagator that reads it; ``propagation.start_propagating`` installs the
propagator and turns the switch on.
"""

from __future__ import annotations

import contextvars
from typing import Final

from otel_genai_session.attributes import CUSTOMER_ID, SESSION_ID, USER_HASH, USER_ID

__all__ = ["SESSION_BAGGAGE_KEYS", "propagating", "stop_propagating", "switch_propagating"]

SESSION_BAGGAGE_KEYS: Final = (SESSION_ID, USER_ID, USER_HASH, CUSTOMER_ID)

_propagating: Final[contextvars.ContextVar[bool]] = contextvars.ContextVar(
    "otel_genai_session.propagate_baggage", default=False
)

propagating: Final = _propagating.get
"""True inside a block or request that turned ``propagate_baggage`` on."""


def switch_propagating(on: bool) -> contextvars.Token[bool]:
    """Set the switch to exactly ``on`` in this context. Turning it on needs
    the propagator installed: :func:`otel_genai_session.propagation.start_propagating`
    does both."""
    return _propagating.set(on)


def stop_propagating(token: object) -> None:
    """Undo ``propagation.start_propagating`` (given its token); quiet when run in
    another context, where the value from before the token is put back."""
    if not isinstance(token, contextvars.Token):
        return
    try:
        _propagating.reset(token)
    except (ValueError, RuntimeError):  # made in another Context, or used already
        _propagating.set(token.old_value if token.old_value is not token.MISSING else False)
