"""A memo of resolved sessions, keyed by the raw request values they came from.

Conversations, users and tenants repeat across requests, so a middleware
that reads its ids from headers, cookies and the query string only keeps
what it resolved for those raw values and skips the parsing next time. The
keys are client bytes, so the memo is bounded in bytes: it holds at most
:data:`MOST_ENTRIES` entries, and keys over :data:`LARGEST_KEY` bytes are
never kept (such requests are resolved every time), so it never holds more
than ``MOST_ENTRIES * (LARGEST_KEY + ENTRY_OVERHEAD)`` bytes (under
:data:`MEMO_BYTES`) and one hostile request can neither bloat it nor evict
more than one neighbour. A put costs a dict insert and, once full, one
``popitem``: no per-key byte accounting.

A session's attributes depend on user-id hashing (``user.id`` or
``user.hash``), so the memo belongs to one hashing generation
(:func:`~otel_genai_session.privacy.hashing_generation`): a value built under
another generation is never stored, and when the setting is switched the
privacy module tells the memo, which starts afresh. A lookup costs one dict
lookup, nothing more.

Usage::

    memo = SessionMemo()
    value = memo.get(key)
    if value is None:
        generation = hashing_generation()  # before building
        value = resolve()
        memo.put(key, value, generation)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, Generic, TypeVar

from otel_genai_session.privacy import hashing_generation, register_session_cache

__all__ = [
    "ENTRY_OVERHEAD",
    "LARGEST_KEY",
    "MEMO_BYTES",
    "MOST_ENTRIES",
    "PROPERTY_OVERHEAD",
    "SessionMemo",
    "key_bytes",
]

MEMO_BYTES: Final = 2 * 1024 * 1024
"""The most a memo holds, keys and their overhead included (per middleware)."""
LARGEST_KEY: Final = 240
"""Requests whose raw values add up to more bytes are resolved every time
(three 36-character UUIDs take 108)."""
ENTRY_OVERHEAD: Final = 800
"""Bytes per entry besides its raw values: the key tuple and its bytes
objects, the dict slot, the resolution and its session with its attributes
(measured with tracemalloc: about 770 for a session of three ids)."""
PROPERTY_OVERHEAD: Final = 400
"""Bytes counted per entry for each property a middleware may resolve: its key
and attribute name (shared by the sessions, but counted), the value's ``str``
beside the raw bytes, and two dict slots (tracemalloc: about 330 for a short
property)."""
MOST_ENTRIES: Final = MEMO_BYTES // (LARGEST_KEY + ENTRY_OVERHEAD)
"""2,016 entries: full of the largest keys, the memo holds at most :data:`MEMO_BYTES`."""

Value = TypeVar("Value")
Key = tuple[bytes | str | None, ...]
"""Raw request values: header values (None: absent), then the query string."""


def key_bytes(key: tuple[bytes | str | None, ...]) -> int:
    """The raw request bytes (or characters) a key holds."""
    return sum(map(len, filter(None, key)))


class SessionMemo(Generic[Value]):
    """A mapping bounded in entries and in key size; the oldest entry goes
    first when it is full.

    ``get`` is the plain dict lookup (one C call on the request path); ``put``
    is an insert and, once full, one ``popitem``, each atomic under the GIL,
    so WSGI servers' threads need no lock (concurrent puts can hold a few
    entries more for an instant, one per thread at most).
    """

    def __init__(self, most_entries: int = MOST_ENTRIES, largest_key: int = LARGEST_KEY) -> None:
        self._most_entries = most_entries
        self._largest_key = largest_key
        self._start(hashing_generation())
        register_session_cache(self)  # clear_cached_sessions() when hashing is switched

    def _start(self, generation: int) -> None:
        # The generation first: a put that sees the new generation also sees
        # the new entries (see put).
        self._generation = generation
        # Ordered by insertion, so the oldest goes in O(1): deleting from the
        # front of a plain dict leaves holes that next(iter(...)) walks past,
        # each time (21k instructions per put once full, when this was a dict).
        self._entries: OrderedDict[Key, Value] = OrderedDict()
        self.get = self._entries.get

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: Key, value: Value, generation: int) -> None:
        """Keep ``value`` under ``key`` (replacing any), unless the key is too
        large to be worth keeping or ``value`` was built under another hashing
        ``generation`` (read before building it) than this memo's."""
        # The entries before the generation: if hashing is switched in between,
        # the value lands in the entries being discarded, or is refused.
        entries = self._entries
        if generation != self._generation:
            return
        if sum(map(len, filter(None, key))) > self._largest_key:  # key_bytes, in C
            return
        entries[key] = value
        if len(entries) > self._most_entries:
            # Never empty here: each put pops at most the one entry it added.
            entries.popitem(last=False)

    def clear_cached_sessions(self) -> None:
        """Start afresh in the current hashing generation (privacy calls this)."""
        self._start(hashing_generation())
