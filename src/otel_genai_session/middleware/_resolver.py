"""One resolution path for both middlewares: a request in, its session out.

Precedence, per field: the ``extract`` hook > headers > cookies > query > JSON
body > baggage > a generated session id; within one source, the mapping's
order. Properties (targets ``"property:<key>"``) are fields like the ids: the
same sources, precedence and bounds. The resolver knows neither ASGI nor WSGI:
each adapter reads the raw values of the headers it is told to
(:meth:`MiddlewareOptions.header_names`), hands them over with a
:class:`RequestReader` for whatever else its request representation (scope,
environ) may have to give, and gets a :class:`Resolution` back: the session,
and whether the JSON body must be read first. Reading, buffering and replaying
that body is the adapter's I/O; the resolver then finishes the session from it.

Without a hook, a body or a generator, a session is a pure function of the
header, cookie and query bytes; conversations, users and tenants repeat, so
resolutions are memoised by those bytes, in a memo of the current hashing
generation (:class:`~._memo.SessionMemo`): a session built before user-id
hashing was switched on never exports a raw ``user.id`` after it.

Usage::

    resolver = SessionResolver(options, reader)
    session, body = resolver.resolve(request, header_values)
    if body is not None:
        data = read_at_most(body.size)                 # the adapter's I/O
        session = resolver.with_body(body, data)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Generic, NamedTuple, Protocol, TypeVar

from otel_genai_session._properties import NO_PROPERTIES, SessionProperties, overlay_properties
from otel_genai_session._validation import clean_id, warn_once
from otel_genai_session.middleware._memo import (
    ENTRY_OVERHEAD,
    LARGEST_KEY,
    MEMO_BYTES,
    PROPERTY_OVERHEAD,
    SessionMemo,
)
from otel_genai_session.middleware._options import PROPERTY_TARGET, MiddlewareOptions, name_of
from otel_genai_session.middleware._parsing import BODY_NOT_PARSED, is_json
from otel_genai_session.middleware._sources import Ids, IdSources
from otel_genai_session.privacy import hashing_generation
from otel_genai_session.session import EMPTY_SESSION, SESSION_FIELDS, SessionContext

__all__ = [
    "EMPTY_PIECES",
    "GENERATOR_FAILED",
    "OVER_LIMIT",
    "TOO_MANY_PIECES",
    "BodyNeeded",
    "RequestReader",
    "Resolution",
    "SessionResolver",
    "wire_bytes",
]

GENERATOR_FAILED: Final = "generate_session_id %s raised %s; no session id generated"
OVER_LIMIT: Final = "larger than max_body_size (%d bytes); see the docs on sizing"
TOO_MANY_PIECES: Final = "sent in more than %d pieces"
EMPTY_PIECES: Final = "sent in more pieces than bytes (past the first %d)"
"""Reasons a wanted body was not parsed (logged once each with ``BODY_NOT_PARSED``)."""

# Methods whose requests carry no body we would look into (RFC 9110 gives them
# no defined body semantics).
_BODYLESS_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})

RequestT = TypeVar("RequestT", contravariant=True)


class RequestReader(Protocol[RequestT]):
    """How an adapter reads the rest of what resolution may need from its
    request representation (ASGI scope, WSGI environ), only when it does."""

    def query_string(self, request: RequestT) -> bytes | str: ...

    def path(self, request: RequestT) -> str: ...

    def method(self, request: RequestT) -> str: ...

    def reads_unknown_length(self, request: RequestT, headers: Mapping[bytes, bytes]) -> bool:
        """Whether a body without Content-Length can be read to its end here."""


@dataclass(frozen=True)
class BodyNeeded:
    """The JSON body may hold ids still missing: read at most ``size`` bytes.

    ``declared`` says ``size`` is the request's Content-Length (fewer bytes
    mean the client left); otherwise it is ``max_body_size + 1``, and reading
    that many proves the body too large.
    """

    size: int
    declared: bool
    ids: Ids
    headers: Mapping[bytes, bytes]


class Resolution(NamedTuple):
    """The session so far, and the body to read before it is final (or None)."""

    session: SessionContext
    body: BodyNeeded | None = None


_PLAIN_ID_BYTES: Final = bytes(c if 0x21 <= c < 0x7F and c != ord(",") else 0 for c in range(256))
"""A ``bytes.translate`` table that keeps what a plain header id is made of
(printable ASCII but space and ``,``) and maps every other byte to NUL: one
pass in C, without the per-call set-up a ``delete`` argument costs."""

_EXCLUDED: Final = Resolution(EMPTY_SESSION)
_new_tuple: Final = tuple.__new__  # Resolution(session) without its Python __new__


class SessionResolver(Generic[RequestT]):
    """Resolves each request's session from the options' sources, in precedence order."""

    def __init__(self, options: MiddlewareOptions, reader: RequestReader[RequestT]) -> None:
        self._options = options
        self._reader = reader
        self._sources = IdSources(options)
        self._header_names = options.header_names()
        self._body_fields = frozenset(field for _, field in options.body_paths)
        self._cookie_targets = frozenset(options.cookie_fields.values())
        self._query_targets = frozenset(options.query_fields.values())
        self._baggage_targets = frozenset(options.baggage_fields.values())
        # Resolutions by raw header (and query) values; a session with
        # properties holds more than its raw values, so fewer fit in the bytes.
        overhead = ENTRY_OVERHEAD + PROPERTY_OVERHEAD * len(options.property_targets)
        most_entries = MEMO_BYTES // (LARGEST_KEY + overhead)
        self._memo: SessionMemo[Resolution] | None = (
            SessionMemo(most_entries) if options.memoizable else None
        )
        # Read on every request: decided once.
        self._excluding = bool(options.exclude_paths)
        self._reads_query = bool(options.query_fields)
        self._max_length = options.max_value_length
        # The configured headers alone can decide: no other source to consult
        # (and no property: the plain path knows the three ids only).
        self._headers_alone = not (
            options.extract is not None
            or options.cookie_fields
            or options.query_fields
            or options.body_paths
            or options.baggage_fields
            or options.generate_session_id is not None
            or options.property_targets
        )
        # (slot in the header values, position of the field) per header, in the
        # mapping's order: what the plain path reads (see _plain_session).
        slots = {name: index for index, name in enumerate(self._header_names)}
        self._plain_headers = tuple(
            (slots[name], SESSION_FIELDS.index(field))
            for name, field in options.header_fields.items()
            if self._headers_alone
        )

    def resolve(self, request: RequestT, headers: list[bytes | str | None]) -> Resolution:
        """The request's session, or the session so far and the body to read.

        ``headers``: the raw values of :meth:`MiddlewareOptions.header_names`,
        in that order, as the server gave them (bytes, or PEP 3333 latin-1
        strings), a header sent several times joined with ``,`` (``; `` for
        cookies); the list is the resolver's to keep.
        """
        if self._excluding and self._options.exclude_paths.match(self._reader.path(request)):
            return _EXCLUDED
        values = headers
        if self._reads_query:
            values.append(self._reader.query_string(request))
        memo = self._memo
        if memo is None:
            return self._resolve_from_sources(request, values)
        key = tuple(values)
        resolution = memo.get(key)
        if resolution is None:
            generation = hashing_generation()  # read before building: see SessionMemo
            resolution = self._resolve_from_sources(request, values)
            memo.put(key, resolution, generation)
        return resolution

    def with_body(self, needed: BodyNeeded, body: bytes | memoryview) -> SessionContext:
        """The final session, once the adapter has read the whole body."""
        self._sources.add_from_body(needed.ids, body)
        return self._final_session(needed.ids, needed.headers)

    def without_body(self, needed: BodyNeeded, reason: str | None) -> SessionContext:
        """The final session when the body could not be used: logged once per
        ``reason`` (None: the client left, nothing to report)."""
        if reason is not None:
            warn_once(BODY_NOT_PARSED, reason)
        return self._final_session(needed.ids, needed.headers)

    # -- the steps -------------------------------------------------------------------

    def _resolve_from_sources(
        self, request: RequestT, values: Sequence[bytes | str | None]
    ) -> Resolution:
        """``values``: the header values, then the query string if it is read."""
        if self._headers_alone:
            session = self._plain_session(values)
            if session is not None:
                return _new_tuple(Resolution, (session, None))
        headers = {
            name: value if type(value) is bytes else wire_bytes(value)
            for name, value in zip(self._header_names, values, strict=False)  # query last
            if value is not None
        }
        query = wire_bytes(values[-1] or b"") if self._reads_query else b""
        ids = self._ids_before_body(request, headers, query)
        body = self._body_needed(ids, request, headers)
        if body is None:
            return Resolution(self._final_session(ids, headers))
        return Resolution(_session_of(ids, self._max_length), body)

    def _plain_session(self, values: Sequence[bytes | str | None]) -> SessionContext | None:
        """The session when every configured header present carries one plain
        valid id (one member, UTF-8, within the rule of :func:`clean_id`), read
        in one pass with no per-source machinery; None otherwise, and the request
        takes the general path, which gives the same answer for these values and
        logs what it drops. A new conversation's request costs this, not the
        general path."""
        ids: list[str | None] = [None, None, None]
        limit = self._max_length
        for slot, position in self._plain_headers:
            raw = values[slot]
            if raw is None or ids[position] is not None:
                continue
            # Plain: printable ASCII without space or ",", so nothing to strip
            # or split, and the length is the bytes'; anything else (spaces,
            # a list, UTF-8, control bytes) takes the general path. ASCII only:
            # a PEP 3333 string is then the UTF-8 text too. One translate in C
            # per value (docs/performance.md, "A new conversation's request").
            if not 0 < len(raw) <= limit:
                return None
            if type(raw) is bytes:
                if 0 in raw.translate(_PLAIN_ID_BYTES):
                    return None
                value = raw.decode("ascii")
            elif isinstance(raw, str) and raw.isascii():
                if 0 in raw.encode("ascii").translate(_PLAIN_ID_BYTES):
                    return None
                value = raw
            else:
                return None  # not ASCII, or a subclass of bytes
            ids[position] = value
        session_id, user_id, customer_id = ids
        if session_id is None and user_id is None and customer_id is None:
            return EMPTY_SESSION
        return SessionContext._validated(session_id, user_id, customer_id)

    def _ids_before_body(
        self, request: RequestT, headers: Mapping[bytes, bytes], query_string: bytes
    ) -> Ids:
        """Hook, headers, cookies and query, in that order."""
        sources, options = self._sources, self._options
        ids: Ids = {}
        if options.extract is not None:
            sources.add_from_hook(ids, request)
        sources.add_from_headers(ids, headers)
        cookie = headers.get(b"cookie")
        if options.cookie_fields and cookie and not ids.keys() >= self._cookie_targets:
            sources.add_from_cookies(ids, cookie)
        if options.query_fields and query_string and not ids.keys() >= self._query_targets:
            sources.add_from_query(ids, query_string)
        return ids

    def _body_needed(
        self, ids: Ids, request: RequestT, headers: Mapping[bytes, bytes]
    ) -> BodyNeeded | None:
        """Read only when body fields are still missing, the method carries a
        body, it is identity-encoded UTF-8 JSON, and a declared length is within
        ``max_body_size`` (or, unknown, can be read to its end)."""
        limit = self._options.max_body_size
        if not self._body_fields or self._body_fields.issubset(ids):
            return None
        if self._reader.method(request) in _BODYLESS_METHODS:
            return None
        content_type, encoding = headers.get(b"content-type"), headers.get(b"content-encoding")
        if content_type is None or not is_json(content_type):
            return None
        if encoding is not None and encoding.strip().lower() != b"identity":
            return None
        declared = headers.get(b"content-length", b"").strip()
        if not declared:
            known = self._reader.reads_unknown_length(request, headers)
            return BodyNeeded(limit + 1, False, ids, headers) if known else None
        if not (declared.isdigit() and declared.isascii()) or int(declared) == 0:
            return None
        if int(declared) > limit:
            warn_once(BODY_NOT_PARSED, OVER_LIMIT % limit)
            return None
        return BodyNeeded(int(declared), True, ids, headers)

    def _final_session(self, ids: Ids, headers: Mapping[bytes, bytes]) -> SessionContext:
        """After the body: baggage entries (the lowest-precedence source), then a
        generated session id when none was decided, then the session."""
        baggage = headers.get(b"baggage")
        if self._options.baggage_fields and baggage and not ids.keys() >= self._baggage_targets:
            self._sources.add_from_baggage(ids, baggage)
        if self._options.generate_session_id is not None and ids.get("session_id") is None:
            ids["session_id"] = self._generated_session_id()
        return _session_of(ids, self._max_length)

    def _generated_session_id(self) -> str | None:
        generate = self._options.generate_session_id
        assert generate is not None
        try:
            value = generate()
        except Exception as error:
            warn_once(GENERATOR_FAILED, name_of(generate), type(error).__name__)
            return None
        return clean_id(value, "session_id", "generate_session_id", self._options.max_value_length)


def _session_of(ids: Ids, max_length: int) -> SessionContext:
    session_id, user_id, customer_id = (
        ids.get("session_id"),
        ids.get("user_id"),
        ids.get("customer_id"),
    )
    properties = NO_PROPERTIES
    if len(ids) > (session_id is not None) + (user_id is not None) + (customer_id is not None):
        properties = _properties_of(ids, max_length)
    if session_id is None and user_id is None and customer_id is None and not properties:
        return EMPTY_SESSION
    return SessionContext._validated(session_id, user_id, customer_id, properties)


_PROPERTY_START: Final = len(PROPERTY_TARGET)


def _properties_of(ids: Ids, max_length: int) -> SessionProperties:
    """The properties among the decided fields (values validated already; the
    count bounded by :func:`overlay_properties`, in precedence order)."""
    given = {
        field[_PROPERTY_START:]: value
        for field, value in ids.items()
        if value is not None and field.startswith(PROPERTY_TARGET)
    }
    return overlay_properties(NO_PROPERTIES, given, "a request", max_length)


def wire_bytes(value: bytes | str) -> bytes:
    """PEP 3333 strings are the wire bytes decoded as latin-1: undo that, so
    both adapters' values are decoded as UTF-8 the same way."""
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # a server that decoded otherwise: take it as text
        return value.encode("utf-8", "surrogateescape")
