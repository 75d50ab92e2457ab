"""Fast paths through private attributes of CPython and OpenTelemetry, each beside
its public fallback.

Every use of a private name in this package is in this module. Each fast path
has a fallback built on public APIs only that gives the same answer, and
``tests/test_fastpaths.py`` holds every pair to that, so a Python or SDK release
that moves a private name costs speed, never correctness. A fast path stays
only where the benchmarks show it saves more than 10% of its feature's own
cost (docs/performance.md, "Fast paths").

``OTEL_GENAI_SESSION_FAST_PATHS=off``, read at import, selects the fallbacks
everywhere; the test suite runs once more that way (``tox -e nofastpaths``).

Usage::

    from otel_genai_session._fastpaths import span_attribute_room, unset_probe

    all_unset = unset_probe(("OTEL_INSTRUMENTATION_GENAI_SESSION_ID",))
    all_unset()                                   # True when the variable is not set
    present, room = span_attribute_room(span)     # the span's keys, free attribute slots
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = [
    "ENABLED",
    "current_span_lookup",
    "public_current_span_lookup",
    "public_span_attribute_room",
    "public_unset_probe",
    "span_attribute_room",
    "unset_probe",
]

FAST_PATHS_VARIABLE: Final = "OTEL_GENAI_SESSION_FAST_PATHS"

ENABLED: Final = os.environ.get(FAST_PATHS_VARIABLE, "on").strip().lower() not in (
    "off",
    "0",
    "false",
)
"""False when ``OTEL_GENAI_SESSION_FAST_PATHS`` was ``off`` at import."""


# -- the environment: are our id variables unset? -----------------------------------


def public_unset_probe(variables: Sequence[str]) -> Callable[[], bool]:
    """``all(os.environ.get(v) is None ...)``: reads the live environment."""
    names = tuple(variables)

    def all_unset() -> bool:
        environ = os.environ
        return all(environ.get(name) is None for name in names)

    return all_unset


def unset_probe(variables: Sequence[str]) -> Callable[[], bool]:
    """A function that says, against the live environment, whether every one of
    ``variables`` is unset.

    Asked for every span started outside a complete session. On CPython,
    ``os.environ.get`` of an unset variable raises and catches two exceptions
    inside (~0.5 us each); the fast path asks ``os.environ``'s own dict in one C
    call instead. If ``os.environ`` is replaced later (tools and tests do), the
    probe falls back to the public way.
    """
    fallback = public_unset_probe(variables)
    environ = os.environ
    data = getattr(environ, "_data", None)
    encode = getattr(environ, "encodekey", None)
    if not ENABLED or type(data) is not dict or not callable(encode):
        return fallback
    keys = data.keys()
    encoded = tuple(encode(name) for name in variables)

    def all_unset() -> bool:
        if os.environ is not environ:
            return fallback()
        return keys.isdisjoint(encoded)

    return all_unset


# -- an SDK span's attributes: which keys it has, how many more it takes ------------


@functools.cache
def _limit_from_environment() -> int | None:
    """Read once, as the SDK's ``TracerProvider`` reads it once when made."""
    from opentelemetry.sdk.trace import SpanLimits

    return SpanLimits().max_span_attributes


def public_span_attribute_room(span: Span) -> tuple[Collection[str], int | None]:
    """The keys ``span`` holds, and how many attributes it can still take
    without evicting one (None: no limit).

    The span's limit is not public: this takes the one the environment sets
    (``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT``, default 128), which is the provider's
    unless it was given explicit ``SpanLimits``.
    """
    present: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    limit = _limit_from_environment()
    return present, None if limit is None else max(limit - len(present), 0)


def _fast_span_attribute_room(span: Span) -> tuple[Collection[str], int | None]:
    """The SDK span's ``BoundedAttributes``: its plain dict answers ``in`` in
    nanoseconds (the class has no ``__contains__``, so ``in`` on the public
    view raises and catches a KeyError per missing key), and its ``maxlen`` is
    the span's own limit."""
    bounded = getattr(span, "_attributes", None)
    present = getattr(bounded, "_dict", None)
    if type(present) is not dict:  # not the SDK span this was written against
        return public_span_attribute_room(span)
    maxlen = getattr(bounded, "maxlen", None)
    return present, None if maxlen is None else max(maxlen - len(present), 0)


span_attribute_room: Final = _fast_span_attribute_room if ENABLED else public_span_attribute_room


# -- the current span, read on every request by the middlewares ---------------------


def public_current_span_lookup() -> tuple[Callable[[], Mapping[str, Any]], str]:
    """``(read, key)``: ``read().get(key)`` is the current span, or None."""
    from opentelemetry.trace import INVALID_SPAN, get_current_span

    def read() -> Mapping[str, Any]:
        span = get_current_span()
        return {"span": None if span is INVALID_SPAN else span}

    return read, "span"


def current_span_lookup() -> tuple[Callable[[], Mapping[str, Any]], str]:
    """``(read, key)`` such that ``read().get(key)`` is the current span or None.

    Fast path: the runtime context's ContextVar getter and the span's key in
    the context, two C calls instead of ``get_current_span()``'s five Python
    calls and a dict per request in the fallback.
    """
    if not ENABLED:
        return public_current_span_lookup()
    from contextvars import ContextVar

    try:
        from opentelemetry.context import _RUNTIME_CONTEXT
        from opentelemetry.trace.propagation import _SPAN_KEY
    except ImportError:  # an API without these private names
        return public_current_span_lookup()
    context_var = getattr(_RUNTIME_CONTEXT, "_current_context", None)
    if not isinstance(context_var, ContextVar) or not isinstance(_SPAN_KEY, str):
        return public_current_span_lookup()
    return context_var.get, _SPAN_KEY
