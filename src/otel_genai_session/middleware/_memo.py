"""A memo of resolved sessions, keyed by the raw request values they came from.

Conversations, users and tenants repeat across requests, so a middleware
that reads its ids from headers, cookies and the query string only keeps
what it resolved for those raw values and skips the parsing next time. The
keys are client bytes: the memo is bounded in bytes, not entries, and keys
over :data:`LARGEST_KEY` bytes are never kept, so one hostile request can
neither bloat it nor evict more than a few small neighbours.

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

import threading
from collections import OrderedDict
from typing import Final, Generic, TypeVar

from otel_genai_session.privacy import hashing_generation, register_session_cache

__all__ = ["ENTRY_OVERHEAD", "LARGEST_KEY", "MEMO_BYTES", "PROPERTY_OVERHEAD", "SessionMemo"]

MEMO_BYTES: Final = 2 * 1024 * 1024
"""The most a memo holds, keys and their overhead included (per middleware)."""
LARGEST_KEY: Final = 4 * 1024
"""Requests whose raw values add up to more bytes are resolved every time."""
ENTRY_OVERHEAD: Final = 800
"""Bytes counted per entry besides its raw values: the key tuple and its bytes
objects, the dict slot, the resolution and its session with its attributes
(measured with tracemalloc: about 770 for a session of three ids)."""
PROPERTY_OVERHEAD: Final = 400
"""Bytes counted per entry for each property a middleware may resolve: its key
and attribute name (shared by the sessions, but counted), the value's ``str``
beside the raw bytes, and two dict slots (tracemalloc: about 330 for a short
property)."""

Value = TypeVar("Value")
Key = tuple[bytes | str | None, ...]
"""Raw request values: header values (None: absent), then the query string."""


def key_bytes(key: tuple[bytes | str | None, ...]) -> int:
    """The raw request bytes (or characters) a key holds (in C: put runs on
    every new conversation's first request)."""
    return sum(map(len, filter(None, key)))


class SessionMemo(Generic[Value]):
    """A mapping bounded in bytes; the oldest entries go first when it is full.

    ``get`` is the plain dict lookup (one C call on the request path); ``put``
    accounts for the bytes and evicts under a lock, since WSGI servers call it
    from many threads.
    """

    def __init__(
        self,
        max_bytes: int = MEMO_BYTES,
        largest_key: int = LARGEST_KEY,
        entry_overhead: int = ENTRY_OVERHEAD,
    ) -> None:
        self._max_bytes = max_bytes
        self._largest_key = largest_key
        self._overhead = entry_overhead
        self._lock = threading.Lock()
        self._start(hashing_generation())
        register_session_cache(self)  # clear_cached_sessions() when hashing is switched

    def _start(self, generation: int) -> None:
        self._generation = generation
        # Ordered by insertion, so the oldest goes in O(1): deleting from the
        # front of a plain dict leaves holes that next(iter(...)) walks past,
        # each time (21k instructions per put once full, when this was a dict).
        self._entries: OrderedDict[Key, Value] = OrderedDict()
        self._bytes = 0
        self.get = self._entries.get

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The bytes counted for the entries held."""
        return self._bytes

    def put(self, key: Key, value: Value, generation: int) -> None:
        """Keep ``value`` under ``key`` (replacing any), unless the key is too
        large to be worth keeping or ``value`` was built under another hashing
        ``generation`` (read before building it) than this memo's."""
        size = sum(map(len, filter(None, key)))  # key_bytes, without a Python call
        if size > self._largest_key:
            return
        with self._lock:
            if generation != self._generation:
                return
            entries = self._entries
            if key not in entries:
                self._bytes += size + self._overhead
            entries[key] = value
            while self._bytes > self._max_bytes:
                oldest, _ = entries.popitem(last=False)
                self._bytes -= sum(map(len, filter(None, oldest))) + self._overhead

    def clear_cached_sessions(self) -> None:
        """Start afresh in the current hashing generation (privacy calls this)."""
        with self._lock:
            self._start(hashing_generation())
