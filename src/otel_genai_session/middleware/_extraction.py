"""The framework-agnostic half of both middlewares: sources, precedence, validation.

:class:`SessionExtractor` validates and precomputes every option once, at
construction. Per request, the ASGI and WSGI classes hand it raw bytes (header
values, the query string, the body) and get back a :class:`SessionContext`;
they never parse or validate anything themselves, so both accept exactly the
same values from the same request.

Precedence, per field: the ``extract`` hook > headers > cookies > query > JSON
body; within one source, the mapping's order. Every value passes the core's
validation rule (:func:`~otel_genai_session._validation.clean_id`); a bad
one is dropped and reported once per cause, never raised and never echoed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from otel_genai_session import privacy
from otel_genai_session._validation import (
    DEFAULT_MAX_ID_LENGTH,
    DROPPED_ID,
    clean_id,
    warn_once,
)
from otel_genai_session.middleware._memo import SessionMemo
from otel_genai_session.middleware._options import (
    DEFAULT_HEADER_MAPPING,
    DEFAULT_MAX_BODY_SIZE,
    ExtractHook,
    Field,
    SessionOptions,
    exclusions,
    generator,
    json_path,
    mapping,
    name_of,
    non_negative_int,
    require_token,
)
from otel_genai_session.middleware._parsing import (
    BODY_NOT_PARSED,
    INVALID,
    cookie_pairs,
    is_json,
    load_json,
    query_pairs,
)
from otel_genai_session.session import EMPTY_SESSION, SESSION_FIELDS, SessionContext

__all__ = [
    "DEFAULT_HEADER_MAPPING",
    "DEFAULT_MAX_BODY_SIZE",
    "Field",
    "SessionExtractor",
    "SessionOptions",
]

# Methods whose requests carry no body we would look into (RFC 9110 gives them no
# defined body semantics).
_BODYLESS_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})

# Log messages (module constants so tests can import them). Arguments are
# configuration-derived names, never request bytes.
CONFLICTING: Final = "conflicting repeated values"
NOT_UTF8: Final = "not valid UTF-8"
HOOK_RAISED: Final = "extract hook %s raised %s; the request goes on with the other sources"
HOOK_RETURNED: Final = "extract hook %s returned %s; expected a mapping of field name to value"
HOOK_UNKNOWN_FIELD: Final = "extract hook %s returned a key that is not one of %s; ignored"
GENERATOR_FAILED: Final = "generate_session_id %s raised %s; no session id generated"


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
        headers = mapping(
            "header_mapping", DEFAULT_HEADER_MAPPING if header_mapping is None else header_mapping
        )
        for name in headers:
            require_token("header_mapping", name)
        self.headers: Final = {name.lower().encode("latin-1"): f for name, f in headers.items()}
        # (name, field, log source) per header, so nothing is formatted per request.
        self._header_sources: Final = tuple(
            (name, field, f"header {name.decode('latin-1')!r}")
            for name, field in self.headers.items()
        )
        self.cookies: Final = {
            name.encode("utf-8"): f for name, f in mapping("cookie_mapping", cookie_mapping).items()
        }
        self.query: Final = {
            name.encode("utf-8"): f for name, f in mapping("query_mapping", query_mapping).items()
        }
        body = mapping("body_mapping", body_mapping)
        self.body_paths: Final = tuple((json_path(path), f) for path, f in body.items())
        self.body_fields: Final = frozenset(body.values())
        self.baggage: Final = mapping("baggage_mapping", baggage_mapping)
        if not isinstance(propagate_baggage, bool):
            raise TypeError(f"propagate_baggage must be a bool, not {propagate_baggage!r}")
        self.propagate_baggage: Final = propagate_baggage
        if extract is not None and not callable(extract):
            raise TypeError(f"extract must be a callable or None, not {extract!r}")
        self.extract: Final = extract
        self._extract_name = name_of(extract)
        self.max_body_size: Final = non_negative_int("max_body_size", max_body_size)
        self.max_value_length: Final = non_negative_int("max_value_length", max_value_length)
        if self.max_value_length < 1:
            raise ValueError("max_value_length must be at least 1")
        self.generate_session_id: Final = generator(generate_session_id)
        if response_header is not None:
            require_token("response_header", response_header)
        self.response_header: Final = response_header
        self._exact, self._prefixes, self._patterns = exclusions(exclude_paths)
        self.excludes_paths: Final = bool(self._exact or self._prefixes or self._patterns)
        # Without a hook, a body or a generator, the session is a pure function of
        # header, cookie and query bytes; conversations, users and tenants repeat
        # across requests, so finished sessions are memoised by those bytes.
        self.memoizable: Final = (
            extract is None and not self.body_paths and self.generate_session_id is None
        )
        self.memo: Final[SessionMemo[SessionContext]] = SessionMemo()
        privacy.register_session_cache(self)
        # Wanted header names in a fixed order: adapters collect values into
        # these slots, and a memo key is the tuple of slot values.
        self.slot_names: Final = tuple(sorted(self.header_names()))
        self.slots: Final = {name: index for index, name in enumerate(self.slot_names)}

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

    def headers_of(self, values: Iterable[bytes | None]) -> dict[bytes, bytes]:
        """The ``{name: raw value}`` of headers collected into :attr:`slots`."""
        return {
            name: value
            for name, value in zip(self.slot_names, values, strict=True)
            if value is not None
        }

    def remember(
        self, key: tuple[object, ...], headers: Mapping[bytes, bytes], query_string: bytes
    ) -> SessionContext:
        """Resolve a :attr:`memoizable` request and keep the session under ``key``
        (the adapter's tuple of the raw inputs) in the bounded :attr:`memo`."""
        session = self.session(self.ids_from_request(headers, query_string, None), headers)
        self.memo.put(key, session)
        return session

    def clear_cached_sessions(self) -> None:
        """Forget memoised sessions (their attributes depend on user-id hashing)."""
        self.memo.clear()

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
                self._from_pairs(found, cookie_pairs(raw_cookie), self.cookies, "cookie", True)
        if self.query and query_string and len(found) < 3:
            self._from_pairs(found, query_pairs(query_string), self.query, "query", False)
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
        if method in _BODYLESS_METHODS or content_type is None or not is_json(content_type):
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

    def ids_from_body(self, found: dict[str, str], body: bytes | memoryview) -> None:
        """Add the body fields not found yet, from a complete JSON body."""
        document = load_json(body)
        if not isinstance(document, dict):
            if document is not INVALID:
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
        try:
            items = list(result.items())  # a lazy mapping may raise only now
        except Exception as error:
            warn_once(HOOK_RAISED, self._extract_name, type(error).__name__)
            return
        source = f"extract hook {self._extract_name}"
        for key, value in items:
            if key not in SESSION_FIELDS:
                warn_once(HOOK_UNKNOWN_FIELD, self._extract_name, ", ".join(SESSION_FIELDS))
            elif value is not None:
                # The hook decided this field: an invalid value drops it rather
                # than letting a client-sent source decide it instead.
                found[key] = clean_id(value, key, source, self.max_value_length)  # type: ignore[assignment]

    def _from_baggage(self, found: dict[str, str], raw: bytes) -> None:
        # Only allow-listed keys are looked at.
        from otel_genai_session.middleware._baggage import request_baggage

        entries = request_baggage(raw)
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
            warn_once(GENERATOR_FAILED, name_of(generator), type(error).__name__)
            return None
        return clean_id(value, "session_id", "generate_session_id", self.max_value_length)
