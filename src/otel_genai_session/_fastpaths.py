"""Fast paths through private attributes of CPython and OpenTelemetry, each beside
its public fallback.

Every read of a private attribute of CPython or the OpenTelemetry SDK/API in
this package is in this module. (The GenAI attribute constants still come from
``opentelemetry.semconv._incubating``, the semconv package's published home
for incubating conventions, as in the official instrumentations; the session
keys are spelled out in ``attributes``.) Each fast path
``fast_x`` has a fallback ``public_x`` built on public APIs only, and ``x`` is
the one in use. ``tests/test_fastpaths.py`` holds every pair to the same
answers, so a Python or SDK release that moves a private name costs speed,
not correctness. A fast path stays only where callgrind shows it saves at least
10% of the instructions of the work it serves (``benchmarks/fastpaths_callgrind.py``;
docs/performance.md, "Fast paths").

``OTEL_GENAI_SESSION_FAST_PATHS=off``, read at import, selects the fallbacks
everywhere; the test suite runs once more that way (``tox -e nofastpaths``).

Usage::

    from otel_genai_session._fastpaths import span_attributes, unset_probe

    all_unset = unset_probe(("OTEL_INSTRUMENTATION_GENAI_SESSION_ID",))
    all_unset()                               # True while the variable is unset
    present, limit = span_attributes(span)    # the span's keys, its attribute limit
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = [
    "ENABLED",
    "FAST_PATHS_VARIABLE",
    "add_span_attributes",
    "current_span_lookup",
    "environment_reader",
    "fast_add_span_attributes",
    "fast_current_span_lookup",
    "fast_environment_reader",
    "fast_span_attributes",
    "fast_unset_probe",
    "public_add_span_attributes",
    "public_current_span_lookup",
    "public_environment_reader",
    "public_span_attributes",
    "public_unset_probe",
    "span_attributes",
    "unset_probe",
]

FAST_PATHS_VARIABLE: Final = "OTEL_GENAI_SESSION_FAST_PATHS"

ENABLED: Final = os.environ.get(FAST_PATHS_VARIABLE, "on").strip().lower() not in (
    "off",
    "0",
    "false",
    "no",
)
"""False when ``OTEL_GENAI_SESSION_FAST_PATHS`` was ``off`` at import."""

SpanLookup = tuple[Callable[[], Mapping[str, Any]], str]
"""``(read, key)``: ``read().get(key)`` is the current span, or None."""


# -- the environment: are all of our id variables unset? ----------------------------


def public_unset_probe(variables: Sequence[str]) -> Callable[[], bool]:
    """``all(os.environ.get(v) is None ...)``, against the live environment."""
    names = tuple(variables)

    def all_unset() -> bool:
        environ = os.environ
        return all(environ.get(name) is None for name in names)

    return all_unset


def fast_unset_probe(variables: Sequence[str]) -> Callable[[], bool] | None:
    """The same answer from ``os.environ``'s own dict in one C call; None when
    ``os.environ`` is not CPython's.

    On CPython, ``os.environ.get`` of an unset variable raises and catches two
    exceptions inside, about 0.5 us each. If ``os.environ`` is replaced later
    (tools and tests do), the probe asks the replacement the public way.
    """
    environ = os.environ
    data = getattr(environ, "_data", None)
    encode = getattr(environ, "encodekey", None)
    if type(data) is not dict or not callable(encode):
        return None
    keys = data.keys()
    encoded = tuple(encode(name) for name in variables)
    fallback = public_unset_probe(variables)

    def all_unset() -> bool:
        if os.environ is not environ:
            return fallback()
        return keys.isdisjoint(encoded)

    return all_unset


def unset_probe(variables: Sequence[str]) -> Callable[[], bool]:
    """A function that says whether every one of ``variables`` is unset now."""
    fast = fast_unset_probe(variables) if ENABLED else None
    return fast or public_unset_probe(variables)


# -- the environment: the values of our id variables --------------------------------

EnvironmentReader = Callable[[], tuple[str | None, ...]]
"""Returns the live values of its variables, None for an unset one."""


def public_environment_reader(variables: Sequence[str]) -> EnvironmentReader:
    """``os.environ.get`` of each variable."""
    names = tuple(variables)

    def read() -> tuple[str | None, ...]:
        environ = os.environ
        return tuple(environ.get(name) for name in names)

    return read


def fast_environment_reader(variables: Sequence[str]) -> EnvironmentReader | None:
    """The same values from ``os.environ``'s own dict, keys encoded once: no
    exception for an unset variable (``os.environ.get`` raises and catches two
    inside) and no key encoding per read; None when ``os.environ`` is not
    CPython's. A replaced ``os.environ`` is read the public way."""
    environ = os.environ
    data = getattr(environ, "_data", None)
    encode = getattr(environ, "encodekey", None)
    decode = getattr(environ, "decodevalue", None)
    if type(data) is not dict or not callable(encode) or not callable(decode):
        return None
    encoded = tuple(encode(name) for name in variables)
    fallback = public_environment_reader(variables)

    def read() -> tuple[str | None, ...]:
        if os.environ is not environ:
            return fallback()
        return tuple(None if raw is None else decode(raw) for raw in map(data.get, encoded))

    return read


def environment_reader(variables: Sequence[str]) -> EnvironmentReader:
    """A function that returns the live values of ``variables``."""
    fast = fast_environment_reader(variables) if ENABLED else None
    return fast or public_environment_reader(variables)


# -- an SDK span's attributes: the keys it has, how many it may hold ---------------

AttributeState = tuple[Mapping[str, Any], int | None]
"""The attributes a span holds, and the most attributes it may hold before the SDK
evicts the oldest (None: no limit)."""

_LIMIT_VARIABLES: Final = ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT")


@functools.lru_cache(maxsize=8)
def _attribute_limit(*raw_values: str | None) -> int | None:
    """The SDK's default span attribute limit, for these values of its variables."""
    from opentelemetry.sdk.trace import SpanLimits

    return SpanLimits().max_span_attributes


def public_span_attributes(span: Span) -> AttributeState:
    """From ``span.attributes`` (``in`` on it raises and catches a KeyError per
    missing key) and the limit the environment sets
    (``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT``, default 128), which is the span's
    unless its provider was given explicit ``SpanLimits``: those are not public.
    """
    present: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    return present, _attribute_limit(*map(os.environ.get, _LIMIT_VARIABLES))


def fast_span_attributes(span: Span) -> AttributeState:
    """From the SDK span's ``BoundedAttributes``: its plain dict answers ``in``
    in nanoseconds, and its ``maxlen`` is the span's own limit. Any other span
    gets the public answer."""
    bounded = getattr(span, "_attributes", None)
    present = getattr(bounded, "_dict", None)
    if type(present) is not dict:
        return public_span_attributes(span)
    return present, getattr(bounded, "maxlen", None)


span_attributes: Final = fast_span_attributes if ENABLED else public_span_attributes


def fast_add_span_attributes(span: Span, attributes: Mapping[str, str]) -> None:
    """Set those of ``attributes`` the span lacks, as many as its limit has room
    for (read from its ``BoundedAttributes``), so the SDK evicts nothing."""
    present, limit = fast_span_attributes(span)
    if present:
        attributes = {k: v for k, v in attributes.items() if k not in present}
    if limit is not None and len(present) + len(attributes) > limit:
        attributes = dict(list(attributes.items())[: max(limit - len(present), 0)])
    if attributes:
        span.set_attributes(attributes)


def public_add_span_attributes(span: Span, attributes: Mapping[str, str]) -> None:
    """The same attributes kept, with public APIs only: a provider's own
    ``SpanLimits`` cannot be read, so ours are set one at a time and we stop
    when the SDK starts dropping (``dropped_attributes`` grows). The attribute
    it evicted then is put back: every other one is set again (an update moves
    it to the newest place without evicting), which leaves ours the oldest, and
    setting the evicted one again evicts ours. The span keeps exactly the
    attributes the fast path leaves; its ``dropped_attributes`` count says 2
    more, and the SDK logs its "Attributes dict is full" warning twice."""
    present: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    new = {k: v for k, v in attributes.items() if k not in present}
    dropped = getattr(span, "dropped_attributes", None)
    if not isinstance(dropped, int):  # not an SDK span: nothing to watch
        if new:
            span.set_attributes(new)
        return
    before = dict(present)
    for key, value in new.items():
        span.set_attribute(key, value)
        if getattr(span, "dropped_attributes", dropped) == dropped:
            before[key] = value
            continue
        now: Mapping[str, Any] = getattr(span, "attributes", None) or {}
        evicted = [(k, v) for k, v in before.items() if k not in now]
        if evicted:
            for other, other_value in list(now.items()):
                if other != key:
                    span.set_attribute(other, other_value)
            span.set_attribute(*evicted[0])
        return


add_span_attributes: Final = fast_add_span_attributes if ENABLED else public_add_span_attributes


# -- the current span, read on every request by the middlewares ---------------------


def public_current_span_lookup() -> SpanLookup:
    """``get_current_span()``: five Python calls and a dict per request."""
    from opentelemetry.trace import INVALID_SPAN, get_current_span

    def read() -> Mapping[str, Any]:
        span = get_current_span()
        return {"span": None if span is INVALID_SPAN else span}

    return read, "span"


def fast_current_span_lookup() -> SpanLookup | None:
    """The runtime context's ContextVar getter and the span's key in the
    context: two C calls. None when the installed API lacks either name."""
    from contextvars import ContextVar

    try:
        from opentelemetry.context import _RUNTIME_CONTEXT
        from opentelemetry.trace.propagation import _SPAN_KEY
    except ImportError:
        return None
    context_var = getattr(_RUNTIME_CONTEXT, "_current_context", None)
    if not isinstance(context_var, ContextVar) or not isinstance(_SPAN_KEY, str):
        return None
    return context_var.get, _SPAN_KEY


def current_span_lookup() -> SpanLookup:
    """``(read, key)`` such that ``read().get(key)`` is the current span or None."""
    fast = fast_current_span_lookup() if ENABLED else None
    return fast or public_current_span_lookup()
