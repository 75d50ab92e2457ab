"""The middlewares' options: validated and put in the form the request path uses.

Every check runs once, when a middleware is built, and raises
``TypeError``/``ValueError`` naming the option and showing the value, so a
misconfiguration fails at start-up rather than on the first request. Both
middlewares take the same options (:class:`SessionOptions`) and hold them as
one :class:`MiddlewareOptions`.

A mapping's target is a field, ``"session_id"``, ``"user_id"`` or
``"customer_id"``, or a session property, ``"property:<key>"`` (see
:mod:`otel_genai_session.session` for the keys allowed): properties come from
the same sources, with the same precedence and bounds, as the ids.

Usage::

    options = MiddlewareOptions.from_keywords(
        cookie_mapping={"sid": "session_id"},
        header_mapping={"X-Experiment": "property:experiment"},
    )
    options.cookie_fields        # {b'sid': 'session_id'}
    options.header_names()       # the request headers resolution reads
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal, TypedDict, cast

from otel_genai_session._properties import MAX_PROPERTIES, is_property_key
from otel_genai_session._tenant_trust import note_client_tenant
from otel_genai_session._validation import DEFAULT_MAX_ID_LENGTH, field_mapping, warn_once
from otel_genai_session.session import SESSION_FIELDS

__all__ = [
    "DEFAULT_HEADER_MAPPING",
    "DEFAULT_MAX_BODY_SIZE",
    "NESTED_OPTIONS_DIFFER",
    "PROPERTY_TARGET",
    "ExtractHook",
    "Field",
    "IdField",
    "MiddlewareOptions",
    "PathExclusions",
    "SessionOptions",
    "name_of",
    "property_key",
]

IdField = Literal["session_id", "user_id", "customer_id"]
Field = str
"""Where a source's value goes: an id field (``"session_id"``, ``"user_id"``,
``"customer_id"``) or a property, ``"property:<key>"``."""
PROPERTY_TARGET: Final = "property:"
"""The prefix of a mapping target that names a session property."""
ExtractHook = Callable[[Any], Mapping[str, object] | None]

DEFAULT_HEADER_MAPPING: Final[Mapping[str, IdField]] = {
    "X-Session-ID": "session_id",
    "X-User-ID": "user_id",
    "X-Tenant-ID": "customer_id",
    "X-Customer-ID": "customer_id",
}
DEFAULT_MAX_BODY_SIZE: Final = 1024 * 1024

NESTED_OPTIONS_DIFFER: Final = (
    "A %s nested in another one has other options (%s); the outer one handles the "
    "request and the inner one's options are not used"
)

_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# The keyword a field of MiddlewareOptions comes from, where the names differ.
_OPTION_NAMES: Final = {
    "header_fields": "header_mapping",
    "cookie_fields": "cookie_mapping",
    "query_fields": "query_mapping",
    "body_paths": "body_mapping",
    "baggage_fields": "baggage_mapping",
}


class SessionOptions(TypedDict, total=False):
    """The keyword options both middlewares take (see :class:`MiddlewareOptions`)."""

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


@dataclass(frozen=True)
class PathExclusions:
    """Paths left alone: exact strings, ``*``-suffixed prefixes, patterns that fullmatch."""

    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes or self.patterns)

    def match(self, path: str) -> bool:
        if path in self.exact or path.startswith(self.prefixes):
            return True
        return any(pattern.fullmatch(path) for pattern in self.patterns)


@dataclass(frozen=True)
class MiddlewareOptions:
    """Every option, validated, in the form the request path reads it.

    Equal when two middlewares were given the same options (hooks and
    generators compare by identity), which is how a nested instance knows
    whether its options would have changed anything.
    """

    header_fields: Mapping[bytes, Field]
    """Lower-case header name -> field, in the mapping's order."""
    cookie_fields: Mapping[bytes, Field]
    query_fields: Mapping[bytes, Field]
    body_paths: tuple[tuple[tuple[str, ...], Field], ...]
    """(JSON path as keys, field) pairs, in the mapping's order."""
    baggage_fields: Mapping[str, Field]
    propagate_baggage: bool
    extract: ExtractHook | None
    max_body_size: int
    max_value_length: int
    generate_session_id: Callable[[], object] | None
    response_header: str | None
    exclude_paths: PathExclusions

    @classmethod
    def from_keywords(
        cls,
        *,
        header_mapping: Mapping[str, Field] | None = None,
        cookie_mapping: Mapping[str, Field] | None = None,
        query_mapping: Mapping[str, Field] | None = None,
        body_mapping: Mapping[str, Field] | None = None,
        baggage_mapping: Mapping[str, Field] | None = None,
        propagate_baggage: bool = False,
        extract: ExtractHook | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        max_value_length: int = DEFAULT_MAX_ID_LENGTH,
        generate_session_id: bool | Callable[[], object] = False,
        response_header: str | None = None,
        exclude_paths: Iterable[str | re.Pattern[str]] = (),
    ) -> MiddlewareOptions:
        """Validate the options as the middlewares take them (the middlewares' docstrings
        list them); raises ``TypeError``/``ValueError`` naming the
        option at fault."""
        headers = _mapping(
            "header_mapping", DEFAULT_HEADER_MAPPING if header_mapping is None else header_mapping
        )
        for name in headers:
            _require_token("header_mapping", name)
        if not isinstance(propagate_baggage, bool):
            raise TypeError(f"propagate_baggage must be a bool, not {propagate_baggage!r}")
        if extract is not None and not callable(extract):
            raise TypeError(f"extract must be a callable or None, not {extract!r}")
        if _non_negative_int("max_value_length", max_value_length) < 1:
            raise ValueError("max_value_length must be at least 1")
        if response_header is not None:
            _require_token("response_header", response_header)
        options = cls(
            header_fields={name.lower().encode("latin-1"): f for name, f in headers.items()},
            cookie_fields=_encoded(_mapping("cookie_mapping", cookie_mapping)),
            query_fields=_encoded(_mapping("query_mapping", query_mapping)),
            body_paths=tuple(
                (_json_path(path), f) for path, f in _mapping("body_mapping", body_mapping).items()
            ),
            baggage_fields=_mapping("baggage_mapping", baggage_mapping),
            propagate_baggage=propagate_baggage,
            extract=extract,
            max_body_size=_non_negative_int("max_body_size", max_body_size),
            max_value_length=max_value_length,
            generate_session_id=_generator(generate_session_id),
            response_header=response_header,
            exclude_paths=_exclusions(exclude_paths),
        )
        if len(options.property_targets) > MAX_PROPERTIES:
            raise ValueError(
                f"the mappings name {len(options.property_targets)} properties; "
                f"a session holds at most {MAX_PROPERTIES}"
            )
        note_client_tenant(options.client_sources_of("customer_id"))
        return options

    def client_sources_of(self, field: Field) -> list[str]:
        """The client-controlled sources that set ``field``, named as log lines name them."""
        sources: list[str] = []
        for kind, names, encoding in (
            ("header", self.header_fields, "latin-1"),
            ("cookie", self.cookie_fields, "utf-8"),
            ("query", self.query_fields, "utf-8"),
        ):
            sources += [f"{kind} {n.decode(encoding)!r}" for n, f in names.items() if f == field]
        sources += [f"JSON body field {'.'.join(p)!r}" for p, f in self.body_paths if f == field]
        sources += [f"baggage {key!r}" for key, f in self.baggage_fields.items() if f == field]
        return sources

    @property
    def property_targets(self) -> frozenset[str]:
        """The ``"property:<key>"`` targets the mappings name."""
        return frozenset(t for t in self._targets() if t.startswith(PROPERTY_TARGET))

    def _targets(self) -> list[str]:
        return [
            *self.header_fields.values(),
            *self.cookie_fields.values(),
            *self.query_fields.values(),
            *(field for _, field in self.body_paths),
            *self.baggage_fields.values(),
        ]

    @property
    def memoizable(self) -> bool:
        """Whether a session is a pure function of header, cookie and query bytes
        (no hook, no body, no generator), so it can be memoised by them."""
        return self.extract is None and not self.body_paths and self.generate_session_id is None

    def header_names(self) -> tuple[bytes, ...]:
        """The lower-case request headers that resolution reads, sorted."""
        names = set(self.header_fields)
        if self.cookie_fields:
            names.add(b"cookie")
        if self.body_paths:
            names.update((b"content-type", b"content-encoding", b"content-length"))
            names.add(b"transfer-encoding")
        if self.baggage_fields:
            names.add(b"baggage")
        return tuple(sorted(names))

    def warn_if_nested_differs(self, outer: object, middleware: str) -> None:
        """Log once when ``outer`` (the options of the instance that handles the
        request) differs from these, naming the options that differ."""
        if outer is self or not isinstance(outer, MiddlewareOptions) or outer == self:
            return
        differ = [
            _OPTION_NAMES.get(f.name, f.name)
            for f in fields(self)
            if getattr(self, f.name) != getattr(outer, f.name)
        ]
        warn_once(NESTED_OPTIONS_DIFFER, middleware, ", ".join(differ))


def name_of(function: object) -> str:
    """A hook's or generator's name for log lines (configuration, never request data)."""
    if function is None:
        return "None"
    return str(getattr(function, "__qualname__", None) or type(function).__qualname__)


# -- validation ----------------------------------------------------------------------------


def _mapping(option: str, mapping: Mapping[str, Field] | None) -> dict[str, Field]:
    if mapping is None:
        return {}
    target = (
        lambda field: property_key(field) is not None,
        "'property:<key>', the key of 1 to 64 characters: letters, digits, '_' and '-'"
        " in segments joined by '.'",
    )
    return field_mapping(option, mapping, SESSION_FIELDS, target)


def property_key(target: object) -> str | None:
    """The property key of a ``"property:<key>"`` target; None for anything else."""
    if not isinstance(target, str) or not target.startswith(PROPERTY_TARGET):
        return None
    key = target[len(PROPERTY_TARGET) :]
    return key if is_property_key(key) else None


def _encoded(mapping: dict[str, Field]) -> dict[bytes, Field]:
    return {name.encode("utf-8"): field for name, field in mapping.items()}


def _require_token(option: str, name: str) -> None:
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(f"{option}: {name!r} is not a valid HTTP header name")


def _json_path(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("."))
    if not all(parts):
        raise ValueError(f"body_mapping: {path!r} is not a dotted path like 'metadata.user.id'")
    return parts


def _non_negative_int(option: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{option} must be a non-negative int, not {value!r}")
    return value


def _uuid4_text() -> str:
    from uuid import uuid4

    return str(uuid4())


def _generator(option: object) -> Callable[[], object] | None:
    if option is False:
        return None
    if option is True:
        return _uuid4_text
    if callable(option):
        return cast(Callable[[], object], option)
    raise TypeError(f"generate_session_id must be True, False or a callable, not {option!r}")


def _exclusions(paths: Iterable[str | re.Pattern[str]]) -> PathExclusions:
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
    return PathExclusions(frozenset(exact), tuple(prefixes), tuple(patterns))
