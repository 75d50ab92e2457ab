"""The middleware's options, and the user-id hashing key, from ``OTEL_GENAI_SESSION_*``.

One variable per option (docs/zero-code.md lists them with their defaults);
an unset or empty variable leaves the option at the middleware's default. A
variable that does not parse, or whose value the middleware refuses, is
reported in one log line naming it, and its option stays at the default: the
application always starts.

Usage::

    options = options_from_environment(os.environ)
    GenAISessionMiddleware(app, **options)
"""

from __future__ import annotations

import logging
import pkgutil
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from otel_genai_session.instrumentor._report import report
from otel_genai_session.middleware._options import (
    Field,
    MiddlewareOptions,
    SessionOptions,
    property_key,
)
from otel_genai_session.session import SESSION_FIELDS

__all__ = [
    "HASH_KEY",
    "HASH_KEY_FILE",
    "OPTION_VARIABLES",
    "BadHashKey",
    "hash_key_from_environment",
    "options_from_environment",
]

PREFIX: Final = "OTEL_GENAI_SESSION_"
HASH_KEY: Final = "OTEL_GENAI_SESSION_USER_ID_HASH_KEY"
HASH_KEY_FILE: Final = "OTEL_GENAI_SESSION_USER_ID_HASH_KEY_FILE"
BAD_VARIABLE: Final = "%s=%r is ignored (%s): %s stays at its default"


class BadHashKey(ValueError):
    """A hashing key was asked for and cannot be had: export no user id at all."""


def _mapping(value: str) -> dict[str, Field]:
    """``Name=field,Name=field``; ``none`` for an empty mapping."""
    if value.strip().lower() == "none":
        return {}
    result: dict[str, Field] = {}
    for item in value.split(","):
        name, equals, field = item.strip().partition("=")
        field = field.strip()
        if not equals or not name.strip() or not _is_target(field):
            raise ValueError(
                f"{item.strip()!r} is not name=field with a field among "
                f"{', '.join(SESSION_FIELDS)} or property:<key>"
            )
        result[name.strip()] = field
    return result


def _is_target(field: str) -> bool:
    return field in SESSION_FIELDS or property_key(field) is not None


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError("expected true or false")
    return lowered == "true"


def _integer(value: str) -> int:
    return int(value.strip())


def _text(value: str) -> str:
    return value.strip()


def _paths(value: str) -> list[str | re.Pattern[str]]:
    """Comma-separated: ``/exact``, ``/prefix*``, or ``re:pattern`` (fullmatch)."""
    paths: list[str | re.Pattern[str]] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        paths.append(re.compile(item[3:]) if item.startswith("re:") else item)
    return paths


def _hook(value: str) -> Callable[..., Any]:
    """``package.module:function``, imported now."""
    hook = pkgutil.resolve_name(value.strip())
    if not callable(hook):
        raise TypeError(f"{value.strip()!r} is not callable")
    return hook  # type: ignore[no-any-return]


OPTION_VARIABLES: Final[Mapping[str, tuple[str, Callable[[str], object]]]] = {
    f"{PREFIX}HEADER_MAPPING": ("header_mapping", _mapping),
    f"{PREFIX}COOKIE_MAPPING": ("cookie_mapping", _mapping),
    f"{PREFIX}QUERY_MAPPING": ("query_mapping", _mapping),
    f"{PREFIX}BODY_MAPPING": ("body_mapping", _mapping),
    f"{PREFIX}BAGGAGE_MAPPING": ("baggage_mapping", _mapping),
    f"{PREFIX}PROPAGATE_BAGGAGE": ("propagate_baggage", _boolean),
    f"{PREFIX}GENERATE_SESSION_ID": ("generate_session_id", _boolean),
    f"{PREFIX}RESPONSE_HEADER": ("response_header", _text),
    f"{PREFIX}EXCLUDE_PATHS": ("exclude_paths", _paths),
    f"{PREFIX}MAX_BODY_SIZE": ("max_body_size", _integer),
    f"{PREFIX}MAX_VALUE_LENGTH": ("max_value_length", _integer),
    f"{PREFIX}EXTRACT": ("extract", _hook),
}
"""Variable -> (the middleware keyword it sets, its parser)."""


def options_from_environment(environ: Mapping[str, str]) -> SessionOptions:
    """The middleware keywords the variables set; each bad one logged and left out.

    Each value is checked on its own by the middleware's own validation, so
    the log line names the variable at fault, and the options returned are
    accepted together.
    """
    options: dict[str, object] = {}
    for variable, (option, parse) in OPTION_VARIABLES.items():
        raw = environ.get(variable, "")
        if not raw.strip():
            continue
        try:
            value = parse(raw)
            MiddlewareOptions.from_keywords(**{option: value})  # type: ignore[arg-type]
        except Exception as error:  # any parse or validation error: this option only
            report(logging.WARNING, BAD_VARIABLE, variable, raw, _reason(error), option)
            continue
        options[option] = value
    return options  # type: ignore[return-value]  # each checked above


def hash_key_from_environment(environ: Mapping[str, str]) -> bytes | None:
    """The user-id hashing key from the file or the variable; None when neither is set.

    Raises:
        BadHashKey: the file cannot be read or is empty (the caller must then
            export no ids rather than raw user ids).
    """
    path, key = environ.get(HASH_KEY_FILE, "").strip(), environ.get(HASH_KEY, "")
    if path:
        if key:
            report(
                logging.WARNING,
                "%s and %s are both set: the key is read from the file",
                HASH_KEY_FILE,
                HASH_KEY,
            )
        try:
            # A mounted Kubernetes secret: the file's bytes, without a final newline.
            data = Path(path).read_bytes().rstrip(b"\r\n")
        except OSError as error:
            raise BadHashKey(
                f"{HASH_KEY_FILE}: cannot read {path!r} ({type(error).__name__})"
            ) from None
        if not data:
            raise BadHashKey(f"{HASH_KEY_FILE}: {path!r} is empty")
        return data
    return key.encode("utf-8") if key else None


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
