"""Small helpers over the OpenTelemetry context that this package needs twice.

The propagation switch lives here, as a plain :class:`~contextvars.ContextVar`
next to the session's own: server instrumentations that attach a freshly
extracted OpenTelemetry context on every request cannot wipe it, and reading
it costs nothing at import (no OpenTelemetry module is loaded).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Final

from otel_genai_session.attributes import CUSTOMER_ID, SESSION_ID, USER_HASH, USER_ID

__all__ = [
    "SESSION_BAGGAGE_KEYS",
    "detach_quietly",
    "propagating",
    "set_propagating",
    "start_propagating",
    "stop_propagating",
]

SESSION_BAGGAGE_KEYS: Final = (SESSION_ID, USER_ID, USER_HASH, CUSTOMER_ID)

_propagating: Final[contextvars.ContextVar[bool]] = contextvars.ContextVar(
    "otel_genai_session.propagate_baggage", default=False
)

propagating: Final = _propagating.get
"""True inside a block or request that turned ``propagate_baggage`` on."""


def start_propagating() -> contextvars.Token[bool]:
    """Send the session's ids in the outgoing ``baggage`` header from here on,
    in this context; make sure the propagator that writes them is installed."""
    install = _install_propagator
    if install is None:
        from otel_genai_session.propagation import install_propagator

        install = _bind_installer(install_propagator)
    install()
    return _propagating.set(True)


# The propagation module's installer, bound on first use: that module imports
# OpenTelemetry's propagators, which ``import otel_genai_session`` must not.
_install_propagator: Callable[[], None] | None = None


def _bind_installer(install: Callable[[], None]) -> Callable[[], None]:
    global _install_propagator
    _install_propagator = install
    return install


def set_propagating(on: bool) -> contextvars.Token[bool]:
    """Set the switch to exactly ``on`` in this context (what ``resume`` does)."""
    return start_propagating() if on else _propagating.set(False)


def stop_propagating(token: object) -> None:
    """Undo :func:`start_propagating` (given its token); quiet when run in
    another context, where the value from before the token is put back."""
    if not isinstance(token, contextvars.Token):
        return
    try:
        _propagating.reset(token)
    except (ValueError, RuntimeError):  # made in another Context, or used already
        _propagating.set(token.old_value if token.old_value is not token.MISSING else False)


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
