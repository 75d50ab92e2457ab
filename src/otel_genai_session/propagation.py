"""SessionBaggagePropagator: the session's ids in the outgoing ``baggage`` header.

The ids are read from the session in effect *when the request goes out*, not
from OpenTelemetry's Context: server instrumentations (OpenTelemetry's ASGI
middleware, FastAPIInstrumentor, FastAPI's built-in telemetry) attach a freshly
extracted Context on every request, which would wipe baggage put there earlier,
and a nested ``session_context`` changes the session but not the Context.

Usage, with the environment (after ``baggage``: this one owns the session keys)::

    OTEL_PROPAGATORS=tracecontext,baggage,genai_session

or in code::

    from opentelemetry.propagate import set_global_textmap
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from otel_genai_session.propagation import SessionBaggagePropagator

    set_global_textmap(CompositePropagator([
        TraceContextTextMapPropagator(), W3CBaggagePropagator(), SessionBaggagePropagator(),
    ]))

``propagate_baggage=True`` (on ``session_context`` and the middlewares) needs
neither: it installs one that writes only inside the requests and blocks that
turned it on. The receiving side reads the ids with ``baggage_mapping``.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Mapping
from typing import Final

from opentelemetry import baggage, propagate
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from otel_genai_session._env_fallback import session_attributes
from otel_genai_session._otel_context import (
    SESSION_BAGGAGE_KEYS,
    propagating,
    stop_propagating,
    switch_propagating,
)
from otel_genai_session._validation import logger

__all__ = [
    "ENTRY_POINT_NAME",
    "SessionBaggagePropagator",
    "install_propagator",
    "set_propagating",
    "start_propagating",
    "stop_propagating",
]

ENTRY_POINT_NAME: Final = "genai_session"
"""The name to list in ``OTEL_PROPAGATORS`` (group ``opentelemetry_propagator``)."""

_HEADER: Final = "baggage"
_W3C: Final = W3CBaggagePropagator()


class SessionBaggagePropagator(TextMapPropagator):
    """Writes the W3C ``baggage`` header with the session's ids in it.

    The header it writes is the Context's baggage (what the W3C baggage
    propagator writes) with the session keys (``session.id``, ``user.id`` or,
    with hashing on, ``user.hash``, ``customer.id``) taken from the session in
    effect, first in the header: a key the session lacks is removed, so an
    inbound client's baggage never rides along as ours. List it *after*
    ``baggage`` (it replaces that header). Extraction is left to the W3C
    propagator and ``baggage_mapping``: this one reads nothing inbound.

    Args:
        always: True (the default, as ``OTEL_PROPAGATORS`` builds it): every
            session's ids go out. False: only inside requests and blocks that
            turned ``propagate_baggage`` on; elsewhere the header is left alone.
    """

    def __init__(self, *, always: bool = True) -> None:
        if not isinstance(always, bool):
            raise TypeError(f"always must be a bool, not {always!r}")
        self._always = always

    def inject(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        if not (self._always or propagating()):
            return
        try:
            self._inject(carrier, context, setter)
        except Exception:  # never fail the request that is going out
            logger.debug("SessionBaggagePropagator.inject failed", exc_info=True)

    @staticmethod
    def _inject(
        carrier: CarrierT, context: otel_context.Context | None, setter: Setter[CarrierT]
    ) -> None:
        session = session_attributes()
        inherited = baggage.get_all(context)
        if not inherited:  # the common case: only ours, encoded once per session
            if session:
                setter.set(carrier, _HEADER, _encoded(session))
            return
        entries: dict[str, object] = dict(session)
        stripped = False
        for key, value in inherited.items():
            if key in SESSION_BAGGAGE_KEYS:
                stripped = stripped or key not in entries
            else:
                entries[key] = value
        if entries:
            _W3C.inject(carrier, _baggage_context(entries), setter)
        elif stripped:
            # The W3C propagator wrote a header carrying only a client's session
            # keys; a Setter cannot delete, so it is overwritten with nothing.
            setter.set(carrier, _HEADER, "")

    def extract(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> otel_context.Context:
        return context if context is not None else otel_context.get_current()

    @property
    def fields(self) -> set[str]:
        return {_HEADER}


def _baggage_context(entries: Mapping[str, object]) -> otel_context.Context:
    fresh = otel_context.Context()
    for key, value in entries.items():
        fresh = baggage.set_baggage(key, value, fresh)
    return fresh


# The last session's header: one request's outgoing calls share its session
# object, so each of them after the first costs an identity check.
_last_encoded: tuple[Mapping[str, str] | None, str] = (None, "")


def _encoded(session: Mapping[str, str]) -> str:
    """The W3C encoding of the session's entries (as the W3C propagator writes
    them: percent-encoded, within its size limits)."""
    global _last_encoded
    last, header = _last_encoded
    if last is session:
        return header
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, _baggage_context(session))
    header = carrier.get(_HEADER, "")
    _last_encoded = (session, header)
    return header


_install_lock: Final = threading.Lock()
_installed: TextMapPropagator | None = None


def install_propagator() -> None:
    """Add a ``SessionBaggagePropagator(always=False)`` to the global propagator.

    What ``propagate_baggage=True`` calls on entry (an identity check once
    installed). The global propagator is looked up at each inject, so this
    works whenever it runs; if the application replaces the global propagator
    later, the next call wraps the new one.
    """
    global _installed
    if propagate.get_global_textmap() is _installed:
        return
    with _install_lock:
        current = propagate.get_global_textmap()
        if current is _installed:
            return
        composite = CompositePropagator([current, SessionBaggagePropagator(always=False)])
        propagate.set_global_textmap(composite)
        _installed = composite


def start_propagating() -> contextvars.Token[bool]:
    """Send the session's ids in the outgoing ``baggage`` header from here on,
    in this context (what ``propagate_baggage=True`` does on entry): installs
    the propagator that writes them and turns the switch on. Undo with
    :func:`stop_propagating` and the token."""
    install_propagator()
    return switch_propagating(True)


def set_propagating(on: bool) -> contextvars.Token[bool]:
    """Set the switch to exactly ``on`` in this context (what ``resume`` does)."""
    return start_propagating() if on else switch_propagating(False)
