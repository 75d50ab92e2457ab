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

Session properties stay in the process unless allow-listed: each propagator
sends only the properties named by its ``properties`` argument, by default
``OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES`` (comma-separated
keys, read when the propagator is made), under their attribute names
(``otel_genai_session.property.<key>``); the receiving service reads them only
when its ``baggage_mapping`` names them (``{"otel_genai_session.property.arm":
"property:arm"}``)::

    SessionBaggagePropagator(properties=["experiment"])
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Iterable, Mapping
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
from otel_genai_session._properties import is_property_key
from otel_genai_session._validation import logger
from otel_genai_session.attributes import PROPERTY_PREFIX
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES,
)

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
        properties: the keys of the session properties that may go out (as
            ``otel_genai_session.property.<key>`` entries); no other property
            ever does, and a client's entries under the property prefix are
            removed. None (the default): the keys listed in
            ``OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES``, read now;
            unset, none.

    Raises:
        TypeError, ValueError: ``always`` is not a bool, or a key of
            ``properties`` (or of the environment variable) is not a valid
            property key; the message names the option.
    """

    def __init__(self, *, always: bool = True, properties: Iterable[str] | None = None) -> None:
        if not isinstance(always, bool):
            raise TypeError(f"always must be a bool, not {always!r}")
        self._always = always
        allowed = _allowed_properties(properties)
        self._allowed: frozenset[str] = frozenset(PROPERTY_PREFIX + key for key in allowed)
        # The last session's header: one request's outgoing calls share its
        # session object, so each of them after the first costs an identity check.
        self._last_encoded: tuple[Mapping[str, str] | None, str] = (None, "")

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

    def _inject(
        self, carrier: CarrierT, context: otel_context.Context | None, setter: Setter[CarrierT]
    ) -> None:
        attributes = session_attributes()
        inherited = baggage.get_all(context)
        if not inherited:  # the common case: only ours, encoded once per session
            if attributes:
                header = self._encoded(attributes)
                if header:
                    setter.set(carrier, _HEADER, header)
            return
        entries: dict[str, object] = dict(self._leaving(attributes))
        stripped = False
        for key, value in inherited.items():
            if key in SESSION_BAGGAGE_KEYS or key.startswith(PROPERTY_PREFIX):
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

    def _leaving(self, attributes: Mapping[str, str]) -> Mapping[str, str]:
        """The session's entries that may leave: the ids, and the allowed properties."""
        if not any(map(_is_property_attribute, attributes)):
            return attributes  # ids only
        allowed = self._allowed
        return {
            key: value
            for key, value in attributes.items()
            if key in allowed or not key.startswith(PROPERTY_PREFIX)
        }

    def _encoded(self, attributes: Mapping[str, str]) -> str:
        """The W3C encoding of the session's entries that may leave (as the W3C
        propagator writes them: percent-encoded, within its size limits)."""
        last, header = self._last_encoded
        if last is attributes:
            return header
        leaving = self._leaving(attributes)
        header = ""
        if leaving:
            carrier: dict[str, str] = {}
            _W3C.inject(carrier, _baggage_context(leaving))
            header = carrier.get(_HEADER, "")
        self._last_encoded = (attributes, header)
        return header


def _is_property_attribute(key: str) -> bool:
    return key.startswith(PROPERTY_PREFIX)


def _allowed_properties(properties: Iterable[str] | None) -> tuple[str, ...]:
    """The keys allowed out, checked: ``properties``, or the environment variable's."""
    if properties is None:
        raw = os.environ.get(OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES, "")
        option = OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES
        keys: tuple[object, ...] = tuple(key.strip() for key in raw.split(",") if key.strip())
    elif isinstance(properties, (str, bytes)) or not isinstance(properties, Iterable):
        raise TypeError(f"properties must be an iterable of property keys, not {properties!r}")
    else:
        option, keys = "properties", tuple(properties)
    bad = [key for key in keys if not is_property_key(key)]
    if bad:
        raise ValueError(
            f"{option}: {bad!r} are not property keys (1 to 64 characters: letters, "
            "digits, '_' and '-' in segments joined by '.')"
        )
    return tuple(str(key) for key in keys)


def _baggage_context(entries: Mapping[str, object]) -> otel_context.Context:
    fresh = otel_context.Context()
    for key, value in entries.items():
        fresh = baggage.set_baggage(key, value, fresh)
    return fresh


_install_lock: Final = threading.Lock()
_installed: TextMapPropagator | None = None
_wrapped: TextMapPropagator | None = None  # the global propagator _installed wraps


def install_propagator(*, properties: Iterable[str] | None = None) -> None:
    """Add a ``SessionBaggagePropagator(always=False)`` to the global propagator.

    What ``propagate_baggage=True`` calls on entry (an identity check once
    installed). The global propagator is looked up at each inject, so this
    works whenever it runs; if the application replaces the global propagator
    later, the next call wraps the new one.

    Args:
        properties: the session properties that may leave in ``baggage`` where
            ``propagate_baggage`` is on. Call it once at start-up with them
            (``install_propagator(properties=["experiment"])``): the propagator
            installed then replaces any installed before. None: as installed
            already, or ``OTEL_INSTRUMENTATION_GENAI_SESSION_BAGGAGE_PROPERTIES``.

    Raises:
        TypeError, ValueError: a key of ``properties`` is not a property key.
    """
    global _installed, _wrapped
    if properties is None and propagate.get_global_textmap() is _installed:
        return
    ours = SessionBaggagePropagator(always=False, properties=properties)  # checked first
    with _install_lock:
        current = propagate.get_global_textmap()
        if current is _installed:
            if properties is None:
                return
            if _wrapped is not None:
                current = _wrapped  # replace ours, not wrap it again
        composite = CompositePropagator([current, ours])
        propagate.set_global_textmap(composite)
        _installed, _wrapped = composite, current


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
