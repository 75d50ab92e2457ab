"""A memo of resolved sessions, keyed by the raw request values they came from.

Conversations, users and tenants repeat across requests, so a middleware
that reads its ids from headers, cookies and the query string only keeps
what it resolved for those raw values and skips the parsing next time. The
keys are client bytes: the memo is bounded in bytes, not entries, and keys
over :data:`LARGEST_KEY` bytes are never kept, so one hostile request can
neither bloat it nor evict more than a few small neighbours.

Usage::

    memo = SessionMemo()
    value = memo.get(key)
    if value is None:
        value = resolve()
        memo.put(key, value)
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Final, Generic, TypeVar

__all__ = ["ENTRY_OVERHEAD", "LARGEST_KEY", "MEMO_BYTES", "SessionMemo"]

MEMO_BYTES: Final = 2 * 1024 * 1024
"""The most a memo holds, keys and their overhead included (per middleware)."""
LARGEST_KEY: Final = 4 * 1024
"""Requests whose raw values add up to more bytes are resolved every time."""
ENTRY_OVERHEAD: Final = 512
"""Bytes counted per entry besides its raw values: the key tuple, the dict
slot and a session (a few small objects)."""

Value = TypeVar("Value")


def key_bytes(key: tuple[Hashable, ...]) -> int:
    """The raw request bytes (or characters) a key holds."""
    return sum(len(part) for part in key if isinstance(part, (bytes, str)))


class SessionMemo(Generic[Value]):
    """A mapping bounded in bytes; the oldest entries go first when it is full.

    ``get`` is the plain dict lookup (one C call on the request path); ``put``
    accounts for the bytes and evicts under a lock, since WSGI servers call it
    from many threads.
    """

    def __init__(self, max_bytes: int = MEMO_BYTES, largest_key: int = LARGEST_KEY) -> None:
        self._entries: dict[tuple[Hashable, ...], Value] = {}
        self._max_bytes = max_bytes
        self._largest_key = largest_key
        self._bytes = 0
        self._lock = threading.Lock()
        self.get: Final = self._entries.get

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The bytes counted for the entries held."""
        return self._bytes

    def put(self, key: tuple[Hashable, ...], value: Value) -> None:
        """Keep ``value`` under ``key`` (replacing any), unless the key is too
        large to be worth keeping."""
        size = key_bytes(key)
        if size > self._largest_key:
            return
        entries = self._entries
        with self._lock:
            if key not in entries:
                self._bytes += size + ENTRY_OVERHEAD
            entries[key] = value  # a newer value replaces a stale one
            while self._bytes > self._max_bytes:
                oldest = next(iter(entries))
                del entries[oldest]
                self._bytes -= key_bytes(oldest) + ENTRY_OVERHEAD

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
