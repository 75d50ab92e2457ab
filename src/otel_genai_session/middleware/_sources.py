"""Reading ids from each source of a request: hook, headers, cookies, query, body, baggage.

A "field" here is an id field or a property target (``"property:<key>"``):
properties are read, validated and ordered exactly like the ids.

Each reader adds to an :data:`Ids` the fields it finds that no earlier source
decided, so calling them in precedence order implements the precedence. Every
value passes the core's one validation rule
(:func:`~otel_genai_session._validation.clean_id`); a bad one is dropped and
reported once per cause, never raised and never echoed.

Usage::

    sources = IdSources(MiddlewareOptions.from_keywords(cookie_mapping={"sid": "session_id"}))
    ids: Ids = {}
    sources.add_from_headers(ids, {b"x-session-id": b"conv-1"})
    sources.add_from_cookies(ids, b"sid=ignored; theme=dark")
    ids  # {'session_id': 'conv-1'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from otel_genai_session._validation import DROPPED_ID, clean_id, warn_once
from otel_genai_session.attributes import USER_HASH
from otel_genai_session.middleware._baggage import request_baggage
from otel_genai_session.middleware._options import MiddlewareOptions, name_of, property_key
from otel_genai_session.middleware._parsing import (
    BODY_NOT_PARSED,
    INVALID,
    cookie_pairs,
    load_json,
    query_pairs,
)
from otel_genai_session.privacy import UserHash
from otel_genai_session.session import SESSION_FIELDS

__all__ = [
    "CONFLICTING",
    "HOOK_RAISED",
    "HOOK_RETURNED",
    "HOOK_UNKNOWN_FIELD",
    "LIST_TOO_LONG",
    "MOST_MEMBERS",
    "NOT_UTF8",
    "IdSources",
    "Ids",
]

MOST_MEMBERS: Final = 64
"""A list-valued header longer than this many valid ids (and their blanks) is
dropped without being split into an object per member (WSGI servers hand
over thousands of repeated lines joined into one string)."""

Ids = dict[str, str | None]
"""Field -> value, for the fields decided so far. None: decided, and dropped
(the ``extract`` hook gave an invalid value: no later source may decide it)."""

# Log messages (module constants so tests can import them). Arguments are
# configuration-derived names, never request bytes.
CONFLICTING: Final = "conflicting repeated values"
LIST_TOO_LONG: Final = "repeated into more than %d bytes"
NOT_UTF8: Final = "not valid UTF-8"
HOOK_RAISED: Final = "extract hook %s raised %s; the request goes on with the other sources"
HOOK_RETURNED: Final = "extract hook %s returned %s; expected a mapping of field name to value"
HOOK_UNKNOWN_FIELD: Final = (
    "extract hook %s returned a key that is not one of %s or property:<key>; ignored"
)
HOOK_PROPERTY: Final = "a property"
"""How a property the hook gives is named in log lines: its key may be data."""


class IdSources:
    """The readers of each source, configured once from the options."""

    def __init__(self, options: MiddlewareOptions) -> None:
        self._max_length = options.max_value_length
        self._hook = options.extract
        self._hook_name = name_of(options.extract)
        self._hook_label = f"extract hook {self._hook_name}"
        # The longest list-valued header worth splitting (blanks allowed for).
        self._longest_list = MOST_MEMBERS * (options.max_value_length + 8)
        # (name, field, log label) per header, so nothing is formatted per request.
        self._headers = tuple(
            (name, field, f"header {name.decode('latin-1')!r}")
            for name, field in options.header_fields.items()
        )
        self._cookies = options.cookie_fields
        self._query = options.query_fields
        self._body_paths = tuple(
            (path, field, f"JSON body field {'.'.join(path)!r}")
            for path, field in options.body_paths
        )
        self._baggage = tuple(
            (key, field, f"baggage {key!r}") for key, field in options.baggage_fields.items()
        )
        self._baggage_keys = frozenset(options.baggage_fields)

    def add_from_hook(self, ids: Ids, request: object) -> None:
        """The ``extract`` hook's fields. A value it gives decides the field,
        even an invalid one (then dropped); None leaves the field to the others."""
        try:
            result = self._hook(request)  # type: ignore[misc]
            items = list(result.items()) if isinstance(result, Mapping) else None
        except Exception as error:  # also a lazy mapping that fails when read
            warn_once(HOOK_RAISED, self._hook_name, type(error).__name__)
            return
        if items is None:
            if result is not None:
                warn_once(HOOK_RETURNED, self._hook_name, type(result).__name__)
            return
        for field, value in items:
            if field in SESSION_FIELDS:
                if value is not None:
                    ids[field] = clean_id(value, field, self._hook_label, self._max_length)
            elif property_key(field) is not None:
                if value is not None:
                    label = HOOK_PROPERTY  # never the key: the hook may build it from a request
                    ids[field] = clean_id(value, label, self._hook_label, self._max_length)
            else:
                warn_once(HOOK_UNKNOWN_FIELD, self._hook_name, ", ".join(SESSION_FIELDS))

    def add_from_headers(self, ids: Ids, headers: Mapping[bytes, bytes]) -> None:
        """Header values; repeated lines arrive joined with ``,`` (a list-valued
        field, RFC 9110 5.3), and are used only when all members agree."""
        for name, field, label in self._headers:
            raw = headers.get(name)
            if raw is None or field in ids:
                continue
            if b"," in raw:
                raw = self._single_member(raw, field, label)
            value = None if raw is None else self._decoded(raw, field, label)
            if value is not None:
                ids[field] = value

    def add_from_cookies(self, ids: Ids, raw_cookie: bytes) -> None:
        """Cookie values; a repeated name keeps its first value (browsers send
        the most specific cookie first)."""
        self._add_pairs(ids, cookie_pairs(raw_cookie), self._cookies, "cookie", first_wins=True)

    def add_from_query(self, ids: Ids, query_string: bytes) -> None:
        """Query parameters; a name repeated with another value is ambiguous: dropped."""
        self._add_pairs(ids, query_pairs(query_string), self._query, "query", first_wins=False)

    def add_from_body(self, ids: Ids, body: bytes | memoryview) -> None:
        """The body fields not decided yet, from a complete JSON body."""
        document = load_json(body)
        if not isinstance(document, dict):
            if document is not INVALID:
                warn_once(BODY_NOT_PARSED, "the top level is not an object")
            return
        for path, field, label in self._body_paths:
            if field not in ids:
                value = _lookup(document, path)
                if value is not None:
                    self._add(ids, field, clean_id(value, field, label, self._max_length))

    def add_from_baggage(self, ids: Ids, raw_baggage: bytes) -> None:
        """Allow-listed entries of the W3C ``baggage`` header."""
        entries = request_baggage(raw_baggage, self._baggage_keys)
        for key, field, label in self._baggage:
            value = entries.get(key)
            if value is not None and field not in ids:
                value = clean_id(value, field, label, self._max_length)
                if value is not None and key == USER_HASH and field == "user_id":
                    value = UserHash(value)  # another service's user.hash: kept as is
                self._add(ids, field, value)

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _add(ids: Ids, field: str, value: str | None) -> None:
        if value is not None:
            ids[field] = value

    def _single_member(self, raw: bytes, field: str, label: str) -> bytes | None:
        """The one value of a list-valued header whose members all agree, or None."""
        if len(raw) > self._longest_list:
            warn_once(DROPPED_ID, field, label, LIST_TOO_LONG % self._longest_list)
            return None
        members = set(map(bytes.strip, set(raw.split(b",")))) - {b""}
        if len(members) != 1:
            warn_once(DROPPED_ID, field, label, CONFLICTING)
            return None
        return members.pop()

    def _decoded(self, raw: bytes, field: str, label: str) -> str | None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            warn_once(DROPPED_ID, field, label, NOT_UTF8)
            return None
        return clean_id(text, field, label, self._max_length)

    def _add_pairs(
        self,
        ids: Ids,
        pairs: Iterable[tuple[bytes, bytes]],
        names: Mapping[bytes, str],
        kind: str,
        first_wins: bool,
    ) -> None:
        values: dict[bytes, bytes | None] = {}  # None: repeated with another value
        for name, raw in pairs:
            if name not in names or names[name] in ids:
                continue
            if name not in values:
                values[name] = raw
            elif not first_wins and values[name] not in (None, raw):
                values[name] = None
        for name, field in names.items():  # the mapping's order decides
            if name not in values or field in ids:
                continue
            value, label = values[name], f"{kind} {name.decode('utf-8')!r}"
            if value is None:
                warn_once(DROPPED_ID, field, label, CONFLICTING)
            else:
                self._add(ids, field, self._decoded(value, field, label))


def _lookup(document: dict[str, object], path: tuple[str, ...]) -> object:
    value: object = document
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
