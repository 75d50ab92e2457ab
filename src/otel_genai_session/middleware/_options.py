"""The middlewares' options: their types, defaults, and validation at construction.

Every check here runs once, when a middleware is built, and raises
``TypeError``/``ValueError`` naming the option and showing the value, so a
misconfiguration fails at start-up rather than on the first request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, TypedDict, cast

from otel_genai_session.session import SESSION_FIELDS

__all__ = [
    "DEFAULT_HEADER_MAPPING",
    "DEFAULT_MAX_BODY_SIZE",
    "ExtractHook",
    "Field",
    "SessionOptions",
    "exclusions",
    "generator",
    "json_path",
    "mapping",
    "name_of",
    "non_negative_int",
    "require_token",
]

Field = Literal["session_id", "user_id", "customer_id"]
ExtractHook = Callable[[Any], Mapping[str, object] | None]

DEFAULT_HEADER_MAPPING: Final[Mapping[str, Field]] = {
    "X-Session-ID": "session_id",
    "X-User-ID": "user_id",
    "X-Tenant-ID": "customer_id",
    "X-Customer-ID": "customer_id",
}
DEFAULT_MAX_BODY_SIZE: Final = 1024 * 1024

_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class SessionOptions(TypedDict, total=False):
    """The keyword options both middlewares take (see :class:`SessionExtractor`)."""

    header_mapping: Mapping[str, Field] | None
    cookie_mapping: Mapping[str, Field] | None
    query_mapping: Mapping[str, Field] | None
    body_mapping: Mapping[str, Field] | None
    baggage_mapping: Mapping[str, Field] | None
    propagate_baggage: bool
    extract: ExtractHook | None
    max_body_size: int
    max_value_length: int
    generate_session_id: bool | Callable[[], object]
    response_header: str | None
    exclude_paths: Iterable[str | re.Pattern[str]]


def mapping(option: str, mapping: Mapping[str, Field] | None) -> dict[str, Field]:
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{option} must be a mapping of name to field, not {mapping!r}")
    result: dict[str, Field] = {}
    for name, field in mapping.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{option}: names must be non-empty strings, not {name!r}")
        if field not in SESSION_FIELDS:
            raise ValueError(
                f"{option}: unknown field {field!r} for {name!r}; "
                f"expected one of {', '.join(SESSION_FIELDS)}"
            )
        result[name] = field
    return result


def require_token(option: str, name: str) -> None:
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(f"{option}: {name!r} is not a valid HTTP header name")


def json_path(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("."))
    if not all(parts):
        raise ValueError(f"body_mapping: {path!r} is not a dotted path like 'metadata.user.id'")
    return parts


def non_negative_int(option: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{option} must be a non-negative int, not {value!r}")
    return value


def generator(option: object) -> Callable[[], object] | None:
    if option is False:
        return None
    if option is True:
        from uuid import uuid4

        return lambda: str(uuid4())
    if callable(option):
        return cast(Callable[[], object], option)
    raise TypeError(f"generate_session_id must be True, False or a callable, not {option!r}")


def exclusions(
    paths: Iterable[str | re.Pattern[str]],
) -> tuple[frozenset[str], tuple[str, ...], tuple[re.Pattern[str], ...]]:
    if isinstance(paths, (str, bytes)) or not isinstance(paths, Iterable):
        raise TypeError(f"exclude_paths must be a list of paths or patterns, not {paths!r}")
    exact, prefixes, patterns = set(), [], []
    for path in paths:
        if isinstance(path, re.Pattern):
            patterns.append(path)
        elif isinstance(path, str) and path.startswith("/"):
            if path.endswith("*"):
                prefixes.append(path[:-1])
            else:
                exact.add(path)
        else:
            raise ValueError(
                f"exclude_paths: {path!r} is neither a path starting with '/' nor a re.Pattern"
            )
    return frozenset(exact), tuple(prefixes), tuple(patterns)


def name_of(function: object) -> str:
    if function is None:
        return "None"
    return str(getattr(function, "__qualname__", None) or type(function).__qualname__)
