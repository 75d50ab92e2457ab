"""Session properties: the small, bounded mapping a session carries besides its ids.

A property is a ``key -> value`` pair such as ``experiment -> "b"``, exported on
every span and log record of the session as ``<prefix><key>`` (by default
``otel_genai_session.property.experiment``; see
:data:`otel_genai_session.attributes.PROPERTY_PREFIX`). The rules, one place:

- keys: 1 to :data:`MAX_PROPERTY_KEY_LENGTH` characters, dot-separated
  segments of ASCII letters, digits, ``_`` and ``-`` (:data:`PROPERTY_KEY_PATTERN`):
  an attribute-name suffix, a W3C baggage key and an HTTP token alike;
- values: the one validation rule of the ids (:func:`~._validation.clean_id`);
- at most :data:`MAX_PROPERTIES` per session, inherited ones included;
- ``None`` as a value removes an inherited key.

What breaks a rule is dropped (never raised, never truncated) and logged once
per cause, naming where it came from but never echoing the key or the value.

Usage::

    properties = overlay_properties(NO_PROPERTIES, {"experiment": "b"}, "session_context()")
    properties                         # {'experiment': 'b'}
    property_attributes(properties)    # {'otel_genai_session.property.experiment': 'b'}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, NoReturn

from otel_genai_session._validation import DEFAULT_MAX_ID_LENGTH, clean_id, warn_once
from otel_genai_session.attributes import PROPERTY_PREFIX

__all__ = [
    "MAX_PROPERTIES",
    "MAX_PROPERTY_KEY_LENGTH",
    "NO_PROPERTIES",
    "PROPERTY_KEY_PATTERN",
    "SessionProperties",
    "is_property_key",
    "overlay_properties",
    "property_attributes",
]

MAX_PROPERTIES: Final = 16
"""The most properties one session holds: 3 ids + 16 stay far below the SDK's
default of 128 attributes per span, and every span pays for each one."""

MAX_PROPERTY_KEY_LENGTH: Final = 64
"""The longest key, in characters."""

PROPERTY_KEY_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
"""What a key is made of (``fullmatch``): dot-separated segments of ASCII
letters, digits, ``_`` and ``-``."""

DROPPED_PROPERTY: Final = "Dropped a property from %s: %s"
BAD_KEY: Final = "its key is not a string of 1 to %d characters matching %s"
TOO_MANY: Final = "more than %d properties"
NOT_A_MAPPING: Final = "properties must be a mapping of key to value; ignored"


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError("a session's properties are read-only")


class SessionProperties(dict[str, str]):
    """A session's properties: a read-only ``dict`` that hashes, so a
    :class:`~otel_genai_session.session.SessionContext` that holds it stays a value.

    A dict (not a ``MappingProxyType``) so that it pickles and compares as one;
    every mutating method raises ``TypeError``.
    """

    __slots__ = ()

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[type[SessionProperties], tuple[dict[str, str]]]:
        return SessionProperties, (dict(self),)

    def __copy__(self) -> SessionProperties:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SessionProperties:
        return self

    def __repr__(self) -> str:
        return dict.__repr__(self)


NO_PROPERTIES: Final = SessionProperties()


def is_property_key(key: object) -> bool:
    """Whether ``key`` is a valid property key."""
    return (
        isinstance(key, str)
        and 0 < len(key) <= MAX_PROPERTY_KEY_LENGTH
        and PROPERTY_KEY_PATTERN.fullmatch(key) is not None
    )


def overlay_properties(
    inherited: SessionProperties,
    given: object,
    source: str,
    max_length: int = DEFAULT_MAX_ID_LENGTH,
) -> SessionProperties:
    """``inherited`` with each valid entry of ``given`` replacing or adding its key.

    A value of None removes the key; an invalid key or value is dropped
    (the inherited value stays) and logged once per cause; keys past
    :data:`MAX_PROPERTIES` are dropped, those already held always fit.
    """
    if given is None or (isinstance(given, Mapping) and not given):
        return inherited
    if not isinstance(given, Mapping):
        warn_once(NOT_A_MAPPING)
        return inherited
    result = dict(inherited)
    for key, raw in given.items():
        if not is_property_key(key):
            warn_once(DROPPED_PROPERTY, source, BAD_KEY % (MAX_PROPERTY_KEY_LENGTH, _KEY_RULE))
            continue
        if raw is None:
            result.pop(key, None)
            continue
        value = clean_id(raw, "a property value", source, max_length)
        if value is None:
            continue
        if key not in result and len(result) >= MAX_PROPERTIES:
            warn_once(DROPPED_PROPERTY, source, TOO_MANY % MAX_PROPERTIES)
            continue
        result[key] = value
    if result == inherited:
        return inherited
    return SessionProperties(result) if result else NO_PROPERTIES


def property_attributes(properties: Mapping[str, str]) -> dict[str, str]:
    """The span attributes of ``properties``: ``{PROPERTY_PREFIX + key: value}``."""
    return {PROPERTY_PREFIX + key: value for key, value in properties.items()}


_KEY_RULE: Final = "[A-Za-z0-9_-] segments joined by '.'"
