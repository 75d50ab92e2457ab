"""The session value and the ContextVar that holds it, with the manual API.

:mod:`otel_genai_session.session` is the public face of this module (and of
``session_context``); import from there.

Usage::

    from otel_genai_session.session import get_session_context, set_session_context

    token = set_session_context(session_id="conv-1", user_id="alice")
    get_session_context().user_id   # "alice"

A session also carries a few properties (``properties={"experiment": "b"}``),
bounded and validated by :mod:`._properties`; its ``attributes`` hold them,
prefixed, next to the ids, so per-span work stays one lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn, cast

from otel_genai_session._properties import (
    NO_PROPERTIES,
    SessionProperties,
    overlay_properties,
    property_attributes,
)
from otel_genai_session._validation import clean_id, warn_once
from otel_genai_session.attributes import CUSTOMER_ID, SESSION_ID
from otel_genai_session.privacy import user_id_attribute

__all__ = [
    "EMPTY_SESSION",
    "SESSION_FIELDS",
    "TOKEN_USED",
    "ReadOnlyAttributes",
    "SessionContext",
    "attributes_of",
    "clear_session_context",
    "get_session_context",
    "set_session_context",
]

SESSION_FIELDS: Final = ("session_id", "user_id", "customer_id")
"""Field names, in the order of :class:`SessionContext`."""

TOKEN_USED: Final = (
    "clear_session_context: the token was used already; the session in effect is kept"
)


class ReadOnlyAttributes(dict[str, str]):
    """A dict that refuses every change (like Werkzeug's ``ImmutableDict``).

    A session's attributes are shared by every request, task and span that
    uses the session. A dict rather than a ``MappingProxyType`` because the
    SDK's ``set_attributes`` takes a dict about 10% of the processor's cost
    faster (docs/performance.md, "Fast paths"); copies are plain dicts.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a session's attributes are read-only")

    def __setitem__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def __delitem__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def __ior__(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[misc]
        self._refuse()

    def clear(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def pop(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def popitem(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def setdefault(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def update(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def __reduce__(self) -> tuple[type[dict[str, str]], tuple[dict[str, str]]]:
        return dict, (dict(self),)


class _Derived:
    """The slots behind :attr:`SessionContext.attributes`. Derived from the ids
    and properties, so they are no dataclass fields: not compared, hashed,
    shown, copied or pickled."""

    __slots__ = ("_complete", "attributes")

    attributes: Mapping[str, str]
    """Span attributes of the set fields (``user.hash`` for ``user.id`` when
    hashing is on) and of the properties (``PROPERTY_PREFIX + key``), built
    once so that per-span work is a lookup; read-only, as sessions are shared
    between requests and tasks."""

    _complete: bool
    """True when all three ids are set: no environment variable can fill any
    (asked on every span, so kept rather than counted)."""


@dataclass(frozen=True, slots=True)
class SessionContext(_Derived):
    """An immutable set of session ids and properties; an id that is None is not set.

    Values pass the package's validation rule on construction: an invalid one
    is dropped (None) and reported once, never raised. ``properties`` is a
    read-only ``{key: value}`` mapping (empty by default) bounded as
    :mod:`otel_genai_session.session` documents; what breaks a bound is dropped
    and reported once. A ``SessionContext`` is a value: it compares, hashes,
    copies and pickles as its three ids and its properties (jobs carry one
    across processes; :meth:`session_context.resume` puts it back).
    """

    session_id: str | None = None
    user_id: str | None = None
    customer_id: str | None = None
    # A factory, not a default: Python 3.10's dataclasses refuse any dict
    # subclass as a default, hashable or not.
    properties: Mapping[str, str] = field(default_factory=lambda: NO_PROPERTIES)

    def __post_init__(self) -> None:
        for name in SESSION_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, clean_id(value, name, "SessionContext"))
        properties = overlay_properties(NO_PROPERTIES, self.properties, "SessionContext")
        object.__setattr__(self, "properties", properties)
        self._bind_attributes()

    @classmethod
    def _validated(
        cls,
        session_id: str | None,
        user_id: str | None,
        customer_id: str | None,
        properties: SessionProperties = NO_PROPERTIES,
    ) -> SessionContext:
        """Build from values that already passed :func:`clean_id` (and properties
        that passed :func:`~._properties.overlay_properties`), with whatever
        limit it was given (a middleware's ``max_id_length`` may exceed the default)."""
        # The slots' own setters: what object.__setattr__ ends in, without its
        # lookups (every new conversation's first request builds a session:
        # docs/performance.md, "A new conversation's request").
        session = _new(cls)
        _set_session_id(session, session_id)
        _set_user_id(session, user_id)
        _set_customer_id(session, customer_id)
        _set_properties(session, properties)
        attributes = attributes_of(session_id, user_id, customer_id)
        _set_complete(session, len(attributes) == 3)
        if properties:
            attributes.update(property_attributes(properties))
        _set_attributes(session, ReadOnlyAttributes(attributes))
        return session

    def _bind_attributes(self) -> None:
        attributes = attributes_of(self.session_id, self.user_id, self.customer_id)
        object.__setattr__(self, "_complete", len(attributes) == 3)
        attributes.update(property_attributes(self.properties))
        object.__setattr__(self, "attributes", ReadOnlyAttributes(attributes))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as the ids and properties; the attributes are rebuilt where it
        # is loaded, under that process's user-id hashing and property prefix.
        ids = (self.session_id, self.user_id, self.customer_id)
        if self.properties:
            return SessionContext._validated, (*ids, self.properties)
        return SessionContext._validated, ids

    def __repr__(self) -> str:
        # The dataclass repr, with the properties shown only when there are some.
        shown = f"session_id={self.session_id!r}, user_id={self.user_id!r}, "
        shown += f"customer_id={self.customer_id!r}"
        if self.properties:
            shown += f", properties={self.properties!r}"
        return f"{type(self).__name__}({shown})"

    def __copy__(self) -> SessionContext:
        return self  # immutable, like a tuple

    def __deepcopy__(self, memo: dict[int, Any]) -> SessionContext:
        return self

    def is_empty(self) -> bool:
        """True when no field is set."""
        return not self.attributes

    def overlay(
        self,
        session_id: object = None,
        user_id: object = None,
        customer_id: object = None,
        source: str = "session_context()",
        properties: object = None,
    ) -> SessionContext:
        """Return a copy where each valid argument replaces the inherited field,
        and each valid entry of ``properties`` its key (None removes the key)."""
        inherited = cast(SessionProperties, self.properties)  # always one, once built
        return SessionContext._validated(
            clean_id(session_id, "session_id", source) or self.session_id,
            clean_id(user_id, "user_id", source) or self.user_id,
            clean_id(customer_id, "customer_id", source) or self.customer_id,
            overlay_properties(inherited, properties, source),
        )


_new: Final = object.__new__
_Setter = Callable[[SessionContext, Any], None]
_slots: Final = vars(SessionContext)
_set_session_id: Final[_Setter] = _slots["session_id"].__set__
_set_user_id: Final[_Setter] = _slots["user_id"].__set__
_set_customer_id: Final[_Setter] = _slots["customer_id"].__set__
_set_properties: Final[_Setter] = _slots["properties"].__set__
_set_attributes: Final[_Setter] = vars(_Derived)["attributes"].__set__
_set_complete: Final[_Setter] = vars(_Derived)["_complete"].__set__


def attributes_of(
    session_id: str | None, user_id: str | None, customer_id: str | None
) -> dict[str, str]:
    attributes: dict[str, str] = {}
    if session_id is not None:
        attributes[SESSION_ID] = session_id
    if user_id is not None:
        key, value = user_id_attribute(user_id)
        attributes[key] = value
    if customer_id is not None:
        attributes[CUSTOMER_ID] = customer_id
    return attributes


EMPTY_SESSION: Final = SessionContext()

_current: Final[ContextVar[SessionContext]] = ContextVar(
    "otel_genai_session.session", default=EMPTY_SESSION
)


def get_session_context() -> SessionContext:
    """Return the session in effect; an empty one (never None) outside sessions."""
    return _current.get()


def set_session_context(
    session_id: str | None = None,
    user_id: str | None = None,
    customer_id: str | None = None,
    *,
    properties: Mapping[str, str | None] | None = None,
) -> Token[SessionContext]:
    """Replace the whole session in effect; fields not given become None, and
    the properties are exactly ``properties`` (none inherited).

    Returns a token: pass it to :func:`clear_session_context` to restore what
    was in effect before, rather than emptying the session.
    """
    source = "set_session_context()"
    session = EMPTY_SESSION.overlay(session_id, user_id, customer_id, source, properties)
    return _current.set(session)


def clear_session_context(token: Token[SessionContext] | None = None) -> None:
    """Empty the session in effect, or restore the one before ``token``'s set.

    Like ``ContextVar.reset``, except that it never clobbers and never raises
    for a token of this package: a token used already is ignored (logged once)
    and the session set since stays in effect. A token made in another context
    (e.g. before a task was spawned) restores that token's previous session here.

    Raises:
        ValueError: ``token`` was not returned by :func:`set_session_context`.
    """
    if token is None:
        _current.set(EMPTY_SESSION)
        return
    if token.var is not _current:
        raise ValueError(f"token must come from set_session_context(), not {token!r}")
    try:
        _current.reset(token)
    except RuntimeError:  # used already: whatever is in effect is newer
        warn_once(TOKEN_USED)
    except ValueError:  # made in another Context
        old = token.old_value
        _current.set(EMPTY_SESSION if old is Token.MISSING else old)
