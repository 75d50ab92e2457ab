"""The session store: which conversation, user and tenant the running code serves.

The session lives in its own :class:`contextvars.ContextVar`, not in the
OpenTelemetry ``Context``: server instrumentations attach a freshly extracted
OpenTelemetry context for each request, which would wipe anything kept there.
A ContextVar survives that, is copied into asyncio tasks (so ``gather``-ed
tasks are isolated) and is never shared between threads.

Usage::

    from otel_genai_session import session_context

    with session_context(session_id="conv-123", user_id="user-456"):
        ...  # every span started here carries session.id and user.id
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Final, TypeVar, cast

from otel_genai_session._validation import DEFAULT_MAX_ID_LENGTH, clean_id
from otel_genai_session.attributes import CUSTOMER_ID, SESSION_ID, USER_ID
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID,
    OTEL_INSTRUMENTATION_GENAI_SESSION_ID,
    OTEL_INSTRUMENTATION_GENAI_USER_ID,
)
from otel_genai_session.privacy import user_id_attribute

__all__ = [
    "EMPTY_SESSION",
    "SESSION_FIELDS",
    "SessionContext",
    "clear_session_context",
    "current_session",
    "env_ids_unset",
    "get_session_context",
    "resolve_session",
    "session_attributes",
    "session_context",
    "set_session_context",
]

SESSION_FIELDS: Final = ("session_id", "user_id", "customer_id")
"""Field names, in the order of :class:`SessionContext`."""

_ENV_VARS: Final = (
    (SESSION_ID, OTEL_INSTRUMENTATION_GENAI_SESSION_ID),
    (USER_ID, OTEL_INSTRUMENTATION_GENAI_USER_ID),
    (CUSTOMER_ID, OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID),
)

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class SessionContext:
    """An immutable set of session ids; a field that is None is not set.

    Values pass the package's validation rule on construction: an invalid one
    is dropped (None) and reported once, never raised.
    """

    session_id: str | None = None
    user_id: str | None = None
    customer_id: str | None = None
    # Span attributes of the set fields, built once so that per-span work is a
    # lookup; read-only, as sessions are shared between requests and tasks.
    attributes: Mapping[str, str] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )
    # The same, as the plain dict behind that view: the SDK's attribute cleaning
    # takes a dict ~0.2 us faster per span than a mappingproxy (its ABC checks).
    # Internal: handed only to code that copies it (``Span.set_attributes``).
    _span_attributes: dict[str, str] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        source = "SessionContext"
        for name in SESSION_FIELDS:
            value = getattr(self, name)
            if value is not None and not (type(value) is str and _is_clean(value)):
                object.__setattr__(self, name, clean_id(value, name, source))
        self._bind_attributes()

    @classmethod
    def _validated(
        cls, session_id: str | None, user_id: str | None, customer_id: str | None
    ) -> SessionContext:
        """Build from values that already passed :func:`clean_id` (with any limit)."""
        session = object.__new__(cls)
        object.__setattr__(session, "session_id", session_id)
        object.__setattr__(session, "user_id", user_id)
        object.__setattr__(session, "customer_id", customer_id)
        session._bind_attributes()
        return session

    def _bind_attributes(self) -> None:
        attributes = _attributes_of(self.session_id, self.user_id, self.customer_id)
        object.__setattr__(self, "_span_attributes", attributes)
        object.__setattr__(self, "attributes", MappingProxyType(attributes))

    def is_empty(self) -> bool:
        """True when no field is set."""
        return not self.attributes

    def overlay(
        self,
        session_id: object = None,
        user_id: object = None,
        customer_id: object = None,
        source: str = "session_context()",
    ) -> SessionContext:
        """Return a copy where each valid argument replaces the inherited field."""
        return SessionContext._validated(
            clean_id(session_id, "session_id", source) or self.session_id,
            clean_id(user_id, "user_id", source) or self.user_id,
            clean_id(customer_id, "customer_id", source) or self.customer_id,
        )


def _attributes_of(
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


def _is_clean(value: str) -> bool:
    return (
        0 < len(value) <= DEFAULT_MAX_ID_LENGTH and value.isprintable() and value.strip() == value
    )


EMPTY_SESSION: Final = SessionContext()

_current: Final[ContextVar[SessionContext]] = ContextVar(
    "otel_genai_session.session", default=EMPTY_SESSION
)

current_session: Final = _current.get
"""The session in effect (fast, no env fallback): the ContextVar's getter."""


def get_session_context() -> SessionContext:
    """Return the session in effect; an empty one (never None) outside sessions."""
    return _current.get()


def set_session_context(
    session_id: str | None = None,
    user_id: str | None = None,
    customer_id: str | None = None,
) -> Token[SessionContext]:
    """Replace the whole session in effect; fields not given become None.

    Returns a token: pass it to :func:`clear_session_context` to restore what
    was in effect before, rather than emptying the session.
    """
    source = "set_session_context()"
    return _current.set(EMPTY_SESSION.overlay(session_id, user_id, customer_id, source))


def clear_session_context(token: Token[SessionContext] | None = None) -> None:
    """Empty the session in effect, or restore the one before ``token``'s set."""
    if token is None:
        _current.set(EMPTY_SESSION)
        return
    try:
        _current.reset(token)
    except (ValueError, RuntimeError):  # made in another Context, or used already
        _current.set(token.old_value if token.old_value is not Token.MISSING else EMPTY_SESSION)


class session_context:
    """Put ids in effect for a block, a function or a coroutine.

    Nested, the arguments given override and those left None are inherited
    from the enclosing session. On exit the previous session is restored
    exactly, also when the block raises. Works with ``with`` and ``async
    with``, and as a decorator of functions and coroutine functions (the
    session is entered on each call).

    With ``propagate_baggage=True`` the ids of the session in effect go out in
    the ``baggage`` header of every request an OpenTelemetry-instrumented
    client sends in the block (``session.id``, ``user.id`` or, when hashing is
    on, ``user.hash``, ``customer.id``; see :mod:`otel_genai_session.propagation`);
    nested sessions inherit the switch. Off by default: baggage leaves the process.
    """

    __slots__ = ("_baggage", "_ids", "_resumed", "_tokens")

    def __init__(
        self,
        session_id: str | None = None,
        user_id: str | None = None,
        customer_id: str | None = None,
        *,
        propagate_baggage: bool = False,
    ) -> None:
        self._ids = (session_id, user_id, customer_id)
        self._baggage = propagate_baggage
        self._resumed: SessionContext | None = None
        self._tokens: list[tuple[Token[SessionContext], object]] = []

    @classmethod
    def resume(cls, session: SessionContext, *, propagate_baggage: bool = False) -> session_context:
        """Put exactly ``session`` back in effect, e.g. where a queued job runs.

        Unlike ``session_context(...)``, nothing is inherited from the session
        in effect: the captured session replaces it for the block. Capture with
        :func:`get_session_context` when the job is made (a ``SessionContext``
        is an immutable value: it pickles and can cross processes)::

            queue.put_nowait((prompt, get_session_context()))
            ...
            prompt, session = await queue.get()
            with session_context.resume(session):
                await call_model(prompt)
        """
        if not isinstance(session, SessionContext):
            raise TypeError(f"session must be a SessionContext, not {session!r}")
        resumed = cls(propagate_baggage=propagate_baggage)
        resumed._resumed = session
        return resumed

    def __enter__(self) -> SessionContext:
        resumed = self._resumed
        session = _current.get().overlay(*self._ids) if resumed is None else resumed
        token = _current.set(session)
        baggage_token = None
        if self._baggage:
            from otel_genai_session._otel_context import start_propagating

            baggage_token = start_propagating()
        self._tokens.append((token, baggage_token))
        return session

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # One instance may be entered in several tasks or threads at once (a
        # shared ``async with scope:``): restore with the token made in this
        # context, which is not necessarily the last one appended.
        tokens = self._tokens
        for entry in reversed(tokens[:]):
            token, baggage_token = entry
            try:
                _current.reset(token)
            except (ValueError, RuntimeError):  # another context's, or used already
                continue
            tokens.remove(entry)
            break
        else:
            token, baggage_token = tokens.pop()
            clear_session_context(token)
        if baggage_token is not None:
            from otel_genai_session._otel_context import stop_propagating

            stop_propagating(baggage_token)

    async def __aenter__(self) -> SessionContext:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def _fresh(self) -> session_context:
        """A new instance with the same arguments: one per decorated call."""
        fresh = session_context(*self._ids, propagate_baggage=self._baggage)
        fresh._resumed = self._resumed
        return fresh

    def __call__(self, func: _F) -> _F:
        from inspect import iscoroutinefunction  # not at import: it is slow to load

        if iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await cast(Callable[..., Awaitable[Any]], func)(*args, **kwargs)

            return cast(_F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return func(*args, **kwargs)

        return cast(_F, wrapper)


def _getenv(variable: str) -> str | None:
    """``os.environ.get(variable)``, but without the two exceptions CPython's
    ``os.environ`` raises and catches inside for a variable that is not set:
    those cost ~0.5 µs a lookup, paid three times by every span started outside
    a session. Reads the live environment, so run-time changes still count."""
    environ = os.environ
    data = getattr(environ, "_data", None)
    if not isinstance(data, dict):  # not CPython's os._Environ: the plain way
        return environ.get(variable)
    raw = data.get(environ.encodekey(variable))
    return None if raw is None else environ.decodevalue(raw)


# os.environ and its own storage with our variables' keys, taken once. If
# os.environ is replaced (tests do), env_ids_unset() says "maybe set".
_ENVIRON = os.environ
_ENVIRON_DATA = getattr(os.environ, "_data", None)
_SESSION_KEY, _USER_KEY, _CUSTOMER_KEY = (
    os.environ.encodekey(variable) for _, variable in _ENV_VARS
)


def env_ids_unset() -> bool:
    """True when none of the id variables is set.

    Asked for every span started outside a complete session, so three dict
    probes on ``os.environ``'s own storage (when it is CPython's, unreplaced)
    instead of three ``get`` calls. Reads the live environment.
    """
    data = _ENVIRON_DATA
    if os.environ is not _ENVIRON or type(data) is not dict:
        return False
    return _SESSION_KEY not in data and _USER_KEY not in data and _CUSTOMER_KEY not in data


def _env_value(field_name: str, variable: str) -> str | None:
    raw = _getenv(variable)
    if raw is None:
        return None
    return clean_id(raw, field_name, f"environment variable {variable}")


def resolve_session(
    session_id: object = None, user_id: object = None, customer_id: object = None
) -> SessionContext:
    """Resolve each field on its own: explicit argument > session in effect > env var.

    Environment variables are read now, so a change at run time takes effect.
    """
    current = _current.get()
    nothing_explicit = session_id is None and user_id is None and customer_id is None
    if nothing_explicit and (len(current.attributes) == len(_ENV_VARS) or env_ids_unset()):
        return current  # the common case: nothing explicit, nothing to fill
    source = "explicit value"
    values = [
        clean_id(session_id, "session_id", source) or current.session_id,
        clean_id(user_id, "user_id", source) or current.user_id,
        clean_id(customer_id, "customer_id", source) or current.customer_id,
    ]
    if None in values and not env_ids_unset():
        for index, (_, variable) in enumerate(_ENV_VARS):
            if values[index] is None:
                values[index] = _env_value(SESSION_FIELDS[index], variable)
    if values == [current.session_id, current.user_id, current.customer_id]:
        return current
    return SessionContext._validated(*values)


def session_attributes() -> Mapping[str, str]:
    """Span attributes of the session in effect, env vars filling missing fields.

    ``user.id`` becomes ``user.hash`` when user-id hashing is on. This runs for
    every span: a complete session or an unset environment returns at once.
    """
    current = _current.get()
    attributes = current.attributes
    if len(attributes) == len(_ENV_VARS) or env_ids_unset():
        return attributes
    values = [
        getattr(current, name) or _env_value(name, variable)
        for name, (_, variable) in zip(SESSION_FIELDS, _ENV_VARS, strict=True)
    ]
    return MappingProxyType(_attributes_of(*values))
