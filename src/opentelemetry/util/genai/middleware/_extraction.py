"""The framework-agnostic half of both middlewares: options, sources, precedence.

:class:`SessionExtractor` validates and precomputes every option once, at
construction. Per request, the ASGI and WSGI classes hand it raw bytes (header
values, the query string, the body) and get back a :class:`SessionContext`;
they never parse or validate anything themselves, so both accept exactly the
same values from the same request.

Precedence, per field: the ``extract`` hook > headers > cookies > query > JSON
body; within one source, the mapping's order. Every value passes the core's
validation rule (:func:`~opentelemetry.util.genai._validation.clean_id`); a bad
one is dropped and reported once per cause, never raised and never echoed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, cast

from opentelemetry.util.genai import privacy
from opentelemetry.util.genai._validation import (
    DEFAULT_MAX_ID_LENGTH,
    DROPPED_ID,
    clean_id,
    warn_once,
)
from opentelemetry.util.genai.session import (
    EMPTY_SESSION,
    SESSION_FIELDS,
    SessionContext,
    session_attributes,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = [
    "DEFAULT_HEADER_MAPPING",
    "DEFAULT_MAX_BODY_SIZE",
    "Field",
    "SessionExtractor",
    "SessionOptions",
    "tag_current_span",
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

# Methods whose requests carry no body we would look into (RFC 9110 gives them no
# defined body semantics).
_BODYLESS_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})
_MEMO_SIZE: Final = 4096
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# Log messages (module constants so tests can import them). Arguments are
# configuration-derived names, never request bytes.
CONFLICTING: Final = "conflicting repeated values"
NOT_UTF8: Final = "not valid UTF-8"
HOOK_RAISED: Final = "extract hook %s raised %s; the request goes on with the other sources"
HOOK_RETURNED: Final = "extract hook %s returned %s; expected a mapping of field name to value"
HOOK_UNKNOWN_FIELD: Final = "extract hook %s returned a key that is not one of %s; ignored"
GENERATOR_FAILED: Final = "generate_session_id %s raised %s; no session id generated"
BODY_NOT_PARSED: Final = "JSON body not used for ids: %s"


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


class SessionExtractor:
    """Validated options plus the per-request extraction steps.

    Args:
        header_mapping: ``{header name: field}``, names case-insensitive.
            Replaces the default (``X-Session-ID``, ``X-User-ID``,
            ``X-Tenant-ID``/``X-Customer-ID``) when given; ``{}`` reads none.
        cookie_mapping: ``{cookie name: field}``.
        query_mapping: ``{query parameter: field}``.
        body_mapping: ``{dotted.json.path: field}`` into a JSON object body.
            Off unless given.
        baggage_mapping: ``{baggage key: field}`` read from the request's W3C
            ``baggage`` header, e.g. ``{"session.id": "session_id"}``. Lowest
            precedence; only the listed keys are read. Off unless given: turn it
            on only behind callers you trust (any client can send baggage).
        propagate_baggage: also put the resolved ids into OpenTelemetry
            Baggage for the request, so instrumented HTTP clients carry them to
            the next service. Off by default.
        extract: called with the ASGI scope or WSGI environ; the mapping it
            returns (field -> value or None) wins over every other source.
        max_body_size: the most body bytes buffered to look for body fields.
        max_value_length: the longest id accepted, in characters.
        generate_session_id: ``True`` for a uuid4, or a callable returning an
            id, used when no session id arrives.
        response_header: a header name; responses carry the resolved session
            id in it (unless the app set it).
        exclude_paths: paths left alone: a string matches exactly, or as a
            prefix when it ends in ``*``; a compiled pattern must fullmatch.

    Raises:
        TypeError, ValueError: on any misconfiguration, with the option named.
    """

    def __init__(
        self,
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
    ) -> None:
        headers = _mapping(
            "header_mapping", DEFAULT_HEADER_MAPPING if header_mapping is None else header_mapping
        )
        for name in headers:
            _require_token("header_mapping", name)
        self.headers: Final = {name.lower().encode("latin-1"): f for name, f in headers.items()}
        # (name, field, log source) per header, so nothing is formatted per request.
        self._header_sources: Final = tuple(
            (name, field, f"header {name.decode('latin-1')!r}")
            for name, field in self.headers.items()
        )
        self.cookies: Final = {
            name.encode("utf-8"): f
            for name, f in _mapping("cookie_mapping", cookie_mapping).items()
        }
        self.query: Final = {
            name.encode("utf-8"): f for name, f in _mapping("query_mapping", query_mapping).items()
        }
        body = _mapping("body_mapping", body_mapping)
        self.body_paths: Final = tuple((_json_path(path), f) for path, f in body.items())
        self.body_fields: Final = frozenset(body.values())
        self.baggage: Final = _mapping("baggage_mapping", baggage_mapping)
        if not isinstance(propagate_baggage, bool):
            raise TypeError(f"propagate_baggage must be a bool, not {propagate_baggage!r}")
        self.propagate_baggage: Final = propagate_baggage
        if extract is not None and not callable(extract):
            raise TypeError(f"extract must be a callable or None, not {extract!r}")
        self.extract: Final = extract
        self._extract_name = _name_of(extract)
        self.max_body_size: Final = _non_negative_int("max_body_size", max_body_size)
        self.max_value_length: Final = _non_negative_int("max_value_length", max_value_length)
        if self.max_value_length < 1:
            raise ValueError("max_value_length must be at least 1")
        self.generate_session_id: Final = _generator(generate_session_id)
        if response_header is not None:
            _require_token("response_header", response_header)
        self.response_header: Final = response_header
        self._exact, self._prefixes, self._patterns = _exclusions(exclude_paths)
        self.excludes_paths: Final = bool(self._exact or self._prefixes or self._patterns)
        # Without a hook, a body or a generator, the session is a pure function of
        # header, cookie and query bytes; conversations, users and tenants repeat
        # across requests, so finished sessions are memoised by those bytes.
        self.memoizable: Final = (
            extract is None and not self.body_paths and self.generate_session_id is None
        )
        self._memo: dict[tuple[object, ...], SessionContext] = {}
        self._memo_generation = privacy.generation

    # -- per request -----------------------------------------------------------

    def header_names(self) -> frozenset[bytes]:
        """Lower-case header names whose values :meth:`ids_from_request` reads."""
        names = set(self.headers)
        if self.cookies:
            names.add(b"cookie")
        if self.body_paths:
            names.update((b"content-type", b"content-encoding", b"content-length"))
            names.add(b"transfer-encoding")
        if self.baggage:
            names.add(b"baggage")
        return frozenset(names)

    def is_excluded(self, path: str) -> bool:
        if path in self._exact or path.startswith(self._prefixes):
            return True
        return any(pattern.fullmatch(path) for pattern in self._patterns)

    def memoized_session(
        self, headers: Mapping[bytes, bytes], query_string: bytes
    ) -> SessionContext:
        """:meth:`session` for a :attr:`memoizable` configuration, from a bounded memo."""
        key = (*headers.items(), query_string) if self.query else (*headers.items(),)
        memo = self._memo
        if self._memo_generation != privacy.generation:  # user-id hashing switched
            memo.clear()
            self._memo_generation = privacy.generation
        session = memo.get(key)
        if session is None:
            session = self.session(self.ids_from_request(headers, query_string, None), headers)
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[key] = session
        return session

    def ids_from_request(
        self, headers: Mapping[bytes, bytes], query_string: bytes, hook_argument: object
    ) -> dict[str, str]:
        """Ids from every source but the body, by precedence.

        ``headers`` maps lower-case names to raw values; repeated headers are
        joined with ``,`` (``; `` for ``cookie``), as WSGI servers do.
        """
        found: dict[str, str] = {}
        if self.extract is not None:
            self._from_hook(found, hook_argument)
        max_length = self.max_value_length
        for name, field, source in self._header_sources:
            if field in found:
                continue
            raw = headers.get(name)
            if raw is None:
                continue
            # Fast path, the common case: printable ASCII, no list, nothing to strip.
            if raw.isascii() and 0 < len(raw) <= max_length and b"," not in raw:
                text = raw.decode("ascii")
                if text.isprintable() and text[0] != " " and text[-1] != " ":
                    found[field] = text
                    continue
            value = self._from_header(raw, field, source)
            if value is not None:
                found[field] = value
        if self.cookies and len(found) < 3:
            raw_cookie = headers.get(b"cookie")
            if raw_cookie:
                self._from_pairs(found, _cookie_pairs(raw_cookie), self.cookies, "cookie", True)
        if self.query and query_string and len(found) < 3:
            self._from_pairs(found, _query_pairs(query_string), self.query, "query", False)
        return found

    def body_read_size(
        self,
        found: Mapping[str, str],
        method: str,
        content_type: bytes | None,
        content_encoding: bytes | None,
        content_length: bytes | None,
        length_unknown: bool,
    ) -> int | None:
        """How many body bytes to buffer, or None to leave the body alone.

        Reads only when body fields are configured and still missing, the
        method carries a body, the body is identity-encoded UTF-8 JSON, and a
        declared ``Content-Length`` is within ``max_body_size``. A body of
        unknown length (chunked) gets ``max_body_size + 1``: reading that many
        proves it too large.
        """
        if not self.body_paths or self.body_fields.issubset(found):
            return None
        if method in _BODYLESS_METHODS or content_type is None or not _is_json(content_type):
            return None
        if content_encoding is not None and content_encoding.strip().lower() != b"identity":
            return None
        if content_length is None or not content_length.strip():
            return self.max_body_size + 1 if length_unknown else None
        declared = content_length.strip()
        if not declared.isdigit() or not declared.isascii():
            return None
        size = int(declared)
        return size if 0 < size <= self.max_body_size else None

    def ids_from_body(self, found: dict[str, str], body: bytes) -> None:
        """Add the body fields not found yet, from a complete JSON body."""
        document = _load_json(body)
        if not isinstance(document, dict):
            if document is not _INVALID:
                warn_once(BODY_NOT_PARSED, "the top level is not an object")
            return
        for path, field in self.body_paths:
            if field in found:
                continue
            value: object = document
            for key in path:
                if not isinstance(value, dict):
                    value = None
                    break
                value = value.get(key)
            if value is not None:
                cleaned = clean_id(
                    value, field, f"JSON body field {'.'.join(path)!r}", self.max_value_length
                )
                if cleaned is not None:
                    found[field] = cleaned

    def session(
        self, found: dict[str, str], headers: Mapping[bytes, bytes] | None = None
    ) -> SessionContext:
        """The request's session: what was found, then baggage (lowest
        precedence), plus a generated id if asked."""
        if self.baggage and headers and len(found) < 3:
            raw = headers.get(b"baggage")
            if raw:
                self._from_baggage(found, raw)
        session_id = found.get("session_id")
        if session_id is None and self.generate_session_id is not None:
            session_id = self._generate()
        user_id, customer_id = found.get("user_id"), found.get("customer_id")
        if session_id is None and user_id is None and customer_id is None:
            return EMPTY_SESSION
        return SessionContext._validated(session_id, user_id, customer_id)

    # -- sources -----------------------------------------------------------------

    def _from_hook(self, found: dict[str, str], argument: object) -> None:
        try:
            result = self.extract(argument)  # type: ignore[misc]
        except Exception as error:
            warn_once(HOOK_RAISED, self._extract_name, type(error).__name__)
            return
        if result is None:
            return
        if not isinstance(result, Mapping):
            warn_once(HOOK_RETURNED, self._extract_name, type(result).__name__)
            return
        source = f"extract hook {self._extract_name}"
        for key, value in result.items():
            if key not in SESSION_FIELDS:
                warn_once(HOOK_UNKNOWN_FIELD, self._extract_name, ", ".join(SESSION_FIELDS))
                continue
            cleaned = clean_id(value, key, source, self.max_value_length)
            if cleaned is not None:
                found[key] = cleaned

    def _from_baggage(self, found: dict[str, str], raw: bytes) -> None:
        # OpenTelemetry's W3C propagator does the parsing, percent-decoding and
        # size limits; only allow-listed keys are looked at.
        from opentelemetry.baggage import get_all
        from opentelemetry.baggage.propagation import W3CBaggagePropagator

        entries = get_all(W3CBaggagePropagator().extract({"baggage": raw.decode("latin-1")}))
        for key, field in self.baggage.items():
            value = entries.get(key)
            if field not in found and value is not None:
                cleaned = clean_id(value, field, f"baggage {key!r}", self.max_value_length)
                if cleaned is not None:
                    found[field] = cleaned

    def _from_header(self, raw: bytes, field: str, source: str) -> str | None:
        if b"," in raw:
            # A list-valued field (RFC 9110 5.3): repeated lines joined by ",".
            members = {member.strip() for member in raw.split(b",")} - {b""}
            if len(members) != 1:
                warn_once(DROPPED_ID, field, source, CONFLICTING)
                return None
            raw = members.pop()
        return self._decode(raw, field, source)

    def _from_pairs(
        self,
        found: dict[str, str],
        pairs: Iterable[tuple[bytes, bytes]],
        names: Mapping[bytes, str],
        kind: str,
        first_wins: bool,
    ) -> None:
        seen: dict[bytes, bytes | None] = {}
        for name, raw in pairs:
            if name in names and names[name] not in found:
                if name not in seen:
                    seen[name] = raw
                elif not first_wins and seen[name] is not None and seen[name] != raw:
                    seen[name] = None  # repeated with another value: ambiguous
        for name, field in names.items():
            if field in found or name not in seen:
                continue
            source = f"{kind} {name.decode('utf-8')!r}"
            raw_value = seen[name]
            if raw_value is None:
                warn_once(DROPPED_ID, field, source, CONFLICTING)
                continue
            value = self._decode(raw_value, field, source)
            if value is not None:
                found[field] = value

    def _decode(self, raw: bytes, field: str, source: str) -> str | None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            warn_once(DROPPED_ID, field, source, NOT_UTF8)
            return None
        return clean_id(text, field, source, self.max_value_length)

    def _generate(self) -> str | None:
        generator = self.generate_session_id
        assert generator is not None
        try:
            value = generator()
        except Exception as error:
            warn_once(GENERATOR_FAILED, _name_of(generator), type(error).__name__)
            return None
        return clean_id(value, "session_id", "generate_session_id", self.max_value_length)


def tag_current_span(session: SessionContext) -> None:
    """Put the ids on the span current at request start (e.g. an outer server
    span), keeping values it already has. Never raises."""
    try:
        span = _current_span()
        if span is None or not span.is_recording():
            return
        attributes = session_attributes()
        if attributes:
            existing = getattr(span, "attributes", None) or {}
            span.set_attributes({k: v for k, v in attributes.items() if k not in existing})
    except Exception:  # pragma: no cover - defensive: a broken span must not fail requests
        return


def _current_span() -> Span | None:
    """The current OpenTelemetry span, if any; looked up on every request.

    The first call binds the fastest way this API offers (one ContextVar read
    and one dict lookup instead of ``get_current_span()``'s five calls) and
    replaces this function, so importing the middleware does not import the
    OpenTelemetry trace API.
    """
    global _current_span
    try:
        from opentelemetry.context import _RUNTIME_CONTEXT
        from opentelemetry.trace.propagation import _SPAN_KEY

        read_context = _RUNTIME_CONTEXT.get_current

        def current_span() -> Span | None:
            return cast("Span | None", read_context().get(_SPAN_KEY))

    except ImportError:  # pragma: no cover - an API without these private names
        from opentelemetry.trace import get_current_span

        def current_span() -> Span | None:
            return get_current_span()

    _current_span = current_span
    return current_span()


# -- parsing helpers -------------------------------------------------------------


def _cookie_pairs(raw: bytes) -> Iterable[tuple[bytes, bytes]]:
    """``name=value`` pairs of a Cookie header, skipping malformed ones.

    Unlike ``http.cookies.SimpleCookie``, one bad pair does not lose the others.
    Surrounding double quotes are removed. Pairs are separated by ``;`` or ``,``
    (RFC 2965; WSGI servers join repeated Cookie lines with ``,``; RFC 6265
    values never contain one).
    """
    for chunk in raw.replace(b",", b";").split(b";"):
        name, sep, value = chunk.partition(b"=")
        if sep:
            value = value.strip()
            if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
                value = value[1:-1]
            yield name.strip(), value


def _query_pairs(raw: bytes) -> Iterable[tuple[bytes, bytes]]:
    """Percent-decoded ``name=value`` pairs of a query string, ``+`` as space."""
    from urllib.parse import unquote_to_bytes

    for chunk in raw.split(b"&"):
        name, _, value = chunk.partition(b"=")
        if name:
            yield (
                unquote_to_bytes(name.replace(b"+", b" ")),
                unquote_to_bytes(value.replace(b"+", b" ")),
            )


def _is_json(content_type: bytes) -> bool:
    """``application/json`` or any ``+json`` type, in UTF-8 (the default)."""
    mime, _, parameters = content_type.partition(b";")
    mime = mime.strip().lower()
    if mime != b"application/json" and not (mime.endswith(b"+json") and b"/" in mime):
        return False
    for parameter in parameters.split(b";"):
        key, _, value = parameter.partition(b"=")
        if key.strip().lower() == b"charset":
            return value.strip().strip(b'"').lower() in (b"utf-8", b"utf8")
    return True


_INVALID: Final = object()


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _choose_parser() -> Callable[[bytes], object]:
    """orjson (the [orjson] extra) when installed, else the standard library;
    chosen on the first body, so neither is imported by servers that read none."""
    try:
        from orjson import loads

        return cast("Callable[[bytes], object]", loads)
    except ImportError:  # pragma: no cover - depends on the environment
        import json

        def stdlib_loads(body: bytes) -> object:
            # Decode first: json.loads(bytes) would also accept UTF-16/32,
            # which no client declaring JSON in UTF-8 sends. Same rules as
            # orjson otherwise: no NaN/Infinity.
            return cast(object, json.loads(body.decode("utf-8"), parse_constant=_reject_constant))

        return stdlib_loads


_loads: Callable[[bytes], object] | None = None


def _load_json(body: bytes) -> object:
    """The parsed body, or ``_INVALID`` (reported once per cause)."""
    global _loads
    if _loads is None:
        _loads = _choose_parser()
    try:
        return _loads(body)
    except RecursionError:
        warn_once(BODY_NOT_PARSED, "nested too deeply")
    except ValueError:  # invalid JSON or UTF-8, ints over the digit limit
        warn_once(BODY_NOT_PARSED, "invalid JSON")
    return _INVALID


# -- option validation -----------------------------------------------------------


def _mapping(option: str, mapping: Mapping[str, Field] | None) -> dict[str, Field]:
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


def _generator(option: object) -> Callable[[], object] | None:
    if option is False:
        return None
    if option is True:
        from uuid import uuid4

        return lambda: str(uuid4())
    if callable(option):
        return cast(Callable[[], object], option)
    raise TypeError(f"generate_session_id must be True, False or a callable, not {option!r}")


def _exclusions(
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


def _name_of(function: object) -> str:
    if function is None:
        return "None"
    return str(getattr(function, "__qualname__", None) or type(function).__qualname__)
