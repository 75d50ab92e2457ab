"""Pseudonymous user ids: export ``user.hash`` (keyed HMAC-SHA256) instead of ``user.id``.

User ids are often e-mail addresses or account numbers. With hashing on, spans,
metrics and log records carry ``user.hash``, the hex HMAC-SHA256 of the id
under a secret key, and never the raw id; the same user always maps to the
same value (so "everything user X did" still works for whoever holds the key
and the id), but the value cannot be reversed without the key. Your
application still sees the raw id in :func:`get_session_context`.

Turn it on at start-up, before sessions are created: set
``OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY`` (read at import), or call::

    from otel_genai_session.privacy import enable_user_id_hashing

    enable_user_id_hashing(key=load_secret())   # or no argument: the env var
"""

from __future__ import annotations

import os
import weakref
from functools import lru_cache
from typing import Any, Final

from otel_genai_session.attributes import USER_HASH, USER_ID
from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY,
)

__all__ = [
    "UserHash",
    "disable_user_id_hashing",
    "enable_user_id_hashing",
    "hashing_generation",
    "register_session_cache",
    "user_id_attribute",
    "user_id_hashing_enabled",
]

_key: bytes | None = None
# Bumped on every change of the setting: a cache stores the generation its value
# was built under, and a value from an older generation is never served.
_generation = 0
# Objects that cache built sessions (whose attributes depend on this setting):
# told to forget them when it changes.
_session_caches: weakref.WeakSet[Any] = weakref.WeakSet()


def enable_user_id_hashing(key: str | bytes | None = None) -> None:
    """Export ``user.hash`` instead of ``user.id`` from now on.

    Args:
        key: the HMAC key; when None, the value of
            ``OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY``.

    Raises:
        ValueError: no key given and the environment variable is unset or empty.
    """
    if key is None:
        key = os.environ.get(OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY, "")
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes) or not key:
        raise ValueError(
            "enable_user_id_hashing needs a non-empty key: pass key=... or set "
            f"{OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY}"
        )
    _set_key(key)


def disable_user_id_hashing() -> None:
    """Export raw ``user.id`` again."""
    _set_key(None)


def _set_key(key: bytes | None) -> None:
    global _key, _generation
    _key = key
    _generation += 1
    _hash.cache_clear()
    for cache in list(_session_caches):
        cache.clear_cached_sessions()


def register_session_cache(cache: Any) -> None:
    """Have ``cache.clear_cached_sessions()`` called whenever hashing is switched."""
    _session_caches.add(cache)


def hashing_generation() -> int:
    """A number that changes whenever hashing is switched on, off or re-keyed.

    Sessions built under one generation carry that generation's ``user.id`` or
    ``user.hash``: a cache of sessions keeps the number with each value and
    discards values of another generation, so a session built while the setting
    changed cannot outlive the change.
    """
    return _generation


def user_id_hashing_enabled() -> bool:
    return _key is not None


_CACHED_ID_LENGTH: Final = 256
"""Ids up to this long keep their hash in a cache of 4,096 entries (about 2 MB at
most); longer ones, which only a middleware's raised ``max_value_length`` lets
through, are hashed each time, so client-chosen ids cannot grow the cache."""


def _hmac(key: bytes, user_id: str) -> str:
    import hashlib
    import hmac

    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()


_hash = lru_cache(maxsize=4096)(_hmac)


class UserHash(str):
    """A user id that is a ``user.hash`` already, as another service exported it.

    A middleware's ``baggage_mapping={"user.hash": "user_id", ...}`` gives
    one: it is exported and forwarded as ``user.hash`` unchanged, never hashed
    again and never exported as ``user.id``, whatever this process's hashing
    setting, so one user has one ``user.hash`` across services.
    """

    __slots__ = ()


def user_id_attribute(user_id: str) -> tuple[str, str]:
    """The attribute (key, value) under which ``user_id`` is exported."""
    if type(user_id) is UserHash:
        return USER_HASH, str(user_id)
    key = _key
    if key is None:
        return USER_ID, user_id
    if len(user_id) > _CACHED_ID_LENGTH:
        return USER_HASH, _hmac(key, user_id)
    return USER_HASH, _hash(key, user_id)


if os.environ.get(OTEL_INSTRUMENTATION_GENAI_USER_ID_HASH_KEY):
    enable_user_id_hashing()
