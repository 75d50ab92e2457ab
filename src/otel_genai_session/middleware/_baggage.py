"""The allow-listed entries of a request's W3C ``baggage`` header.

Read here rather than by OpenTelemetry's ``W3CBaggagePropagator``, which a
client can make misbehave: it logs every entry it rejects verbatim at
WARNING, on every request (a client's terminal escapes in the server's logs),
its delimiter regex backtracks quadratically on long runs of spaces (an 8 KB
header of blanks costs it a tenth of a second), and it builds a new context
per entry. This reader is linear, reads only the keys asked for, and reports
each cause of a rejected entry once, in its own words, never with the bytes.

The W3C Baggage grammar and limits apply: members separated by ``,`` with
optional blanks around, ``key=value`` followed by optional ``;properties``
(ignored), keys that are tokens, values of baggage octets, percent-decoded
(``+`` as a space, as OpenTelemetry's propagator encodes it); at most 8192
bytes, 180 members, 4096 bytes a member. With a key repeated, the last wins.

Usage::

    request_baggage(b"session.id=conv-1, user.id=alice;tier=gold", {"session.id"})
    # {'session.id': 'conv-1'}
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final
from urllib.parse import unquote_to_bytes

from otel_genai_session._validation import warn_once

__all__ = ["BAGGAGE_IGNORED", "request_baggage"]

BAGGAGE_IGNORED: Final = "Ignored part of a baggage header: %s"
"""Logged once per cause; the cause is ours, never the client's bytes."""

MAX_HEADER: Final = 8192
MAX_MEMBERS: Final = 180
MAX_MEMBER: Final = 4096

_KEY: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token
_VALUE: Final = re.compile(rb"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")  # baggage octets
_BLANKS: Final = b" \t"


def request_baggage(header: bytes, keys: Collection[str]) -> dict[str, str]:
    """The entries of ``header`` (raw bytes) whose key is in ``keys``."""
    raw_keys = {key.encode("utf-8") for key in keys}
    if len(header) > MAX_HEADER:
        warn_once(BAGGAGE_IGNORED, f"a header over the W3C limit of {MAX_HEADER} bytes")
        return {}
    entries: dict[str, str] = {}
    members = 0
    for member in header.split(b","):
        member = member.strip(_BLANKS)
        if not member:
            continue
        members += 1
        if members > MAX_MEMBERS:
            warn_once(BAGGAGE_IGNORED, f"members past the W3C limit of {MAX_MEMBERS}")
            break
        if len(member) > MAX_MEMBER:
            warn_once(BAGGAGE_IGNORED, f"a member over the W3C limit of {MAX_MEMBER} bytes")
            continue
        name, equals, rest = member.partition(b"=")
        name = name.strip(_BLANKS)
        if name in raw_keys or b"%" in name or b"+" in name:  # others are not read at all
            entry = _entry(name, equals, rest)
            if entry is not None and entry[0] in keys:
                entries[entry[0]] = entry[1]
    return entries


def _entry(name: bytes, equals: bytes, rest: bytes) -> tuple[str, str] | None:
    """(key, value) of one list-member, or None (reported once per cause)."""
    value = rest.partition(b";")[0].strip(_BLANKS)
    if not equals or not _KEY.fullmatch(name) or not _VALUE.fullmatch(value):
        warn_once(BAGGAGE_IGNORED, "a malformed member")
        return None
    try:
        return _decoded(name), _decoded(value)
    except UnicodeDecodeError:
        warn_once(BAGGAGE_IGNORED, "a member not valid UTF-8 once percent-decoded")
        return None


def _decoded(part: bytes) -> str:
    return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8").strip()
