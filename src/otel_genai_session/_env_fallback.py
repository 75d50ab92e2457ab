"""The environment-variable fallback: explicit > session in effect > env var.

The seed's id variables (``OTEL_INSTRUMENTATION_GENAI_SESSION_ID``, ``_USER_ID``,
``_CUSTOMER_ID``) fill the ids a session lacks. The spec has them read when an
invocation or span starts, so a change at run time takes effect; their
validation is cached per distinct set of values.

It sits on the store and below the session API, so the processors and the
propagator read the session's attributes without importing ``session``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Final, cast

from otel_genai_session._fastpaths import environment_reader, unset_probe
from otel_genai_session._properties import SessionProperties, property_attributes
from otel_genai_session._store import SESSION_FIELDS, SessionContext, _current, attributes_of
from otel_genai_session._validation import clean_id
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID,
    OTEL_INSTRUMENTATION_GENAI_SESSION_ID,
    OTEL_INSTRUMENTATION_GENAI_USER_ID,
)

__all__ = ["env_ids_unset", "resolve_ids", "resolve_session", "session_attributes"]

_ENV_VARIABLES: Final = (
    OTEL_INSTRUMENTATION_GENAI_SESSION_ID,
    OTEL_INSTRUMENTATION_GENAI_USER_ID,
    OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID,
)

env_ids_unset: Final = unset_probe(_ENV_VARIABLES)
"""``env_ids_unset()`` is True when none of the id variables is set. Asked for
every span started outside a complete session; reads the live environment."""


_read_env_ids: Final = environment_reader(_ENV_VARIABLES)


@functools.lru_cache(maxsize=16)
def _valid_env_ids(raw: tuple[str | None, ...]) -> tuple[str | None, str | None, str | None]:
    """The ids these raw values give, each through :func:`clean_id`: once per
    distinct set of values (the operator's, so few), not once per span."""
    session_id, user_id, customer_id = (
        None if value is None else clean_id(value, name, f"environment variable {variable}")
        for value, name, variable in zip(raw, SESSION_FIELDS, _ENV_VARIABLES, strict=True)
    )
    return session_id, user_id, customer_id


def _env_ids() -> tuple[str | None, str | None, str | None]:
    """The ids the environment variables give now."""
    return _valid_env_ids(_read_env_ids())


def resolve_ids(
    session_id: object = None, user_id: object = None, customer_id: object = None
) -> tuple[str | None, str | None, str | None]:
    """Resolve each field on its own: explicit argument > session in effect > env var.

    Every explicit value passes :func:`clean_id` (an invalid one is dropped and
    logged once; an int becomes a ``str``). Environment variables are read
    now, so a change at run time takes effect.
    """
    current = _current.get()
    if session_id is None and user_id is None and customer_id is None:
        ids = (current.session_id, current.user_id, current.customer_id)
    else:
        source = "explicit value"
        ids = (
            clean_id(session_id, "session_id", source) or current.session_id,
            clean_id(user_id, "user_id", source) or current.user_id,
            clean_id(customer_id, "customer_id", source) or current.customer_id,
        )
    if None in ids and not env_ids_unset():
        env_session, env_user, env_customer = _env_ids()
        return ids[0] or env_session, ids[1] or env_user, ids[2] or env_customer
    return ids


def resolve_session(
    session_id: object = None, user_id: object = None, customer_id: object = None
) -> SessionContext:
    """The session :func:`resolve_ids` gives: the one in effect when that is all."""
    current = _current.get()
    nothing_explicit = session_id is None and user_id is None and customer_id is None
    if nothing_explicit and (current._complete or env_ids_unset()):
        return current  # the common case: nothing explicit, nothing to fill
    ids = resolve_ids(session_id, user_id, customer_id)
    if ids == (current.session_id, current.user_id, current.customer_id):
        return current
    return SessionContext._validated(*ids, cast(SessionProperties, current.properties))


def session_attributes() -> Mapping[str, str]:
    """Span attributes of the session in effect, env vars filling missing fields.

    ``user.id`` becomes ``user.hash`` when user-id hashing is on; the session's
    properties follow the ids. This runs for every span: a complete session or
    an unset environment returns at once.
    """
    current = _current.get()
    if current._complete or env_ids_unset():
        return current.attributes
    env_session, env_user, env_customer = _env_ids()
    attributes = attributes_of(  # a new dict, this caller's own
        current.session_id or env_session,
        current.user_id or env_user,
        current.customer_id or env_customer,
    )
    if current.properties:
        attributes.update(property_attributes(current.properties))
    return attributes
