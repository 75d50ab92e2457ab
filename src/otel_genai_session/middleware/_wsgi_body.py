"""Buffering a WSGI request body for the ids in it, and putting it back for the app.

The app must read exactly what it would have read without us: the environ
gets a ``wsgi.input`` that yields the buffered bytes, then reads on from the
server's stream (an error met while buffering is raised where it was met).
``CONTENT_LENGTH`` is left untouched. The bytes are held once, in the
server's own object or one growing buffer.

Usage::

    body = buffer_input(environ, size=1024, declared=True)
    # body: the bytes read (a memoryview to release after parsing), or None if
    # the client left before ``size`` bytes; environ["wsgi.input"] replays them
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["buffer_input"]


def buffer_input(environ: WSGIEnvironment, size: int, declared: bool) -> bytes | memoryview | None:
    """Read up to ``size`` bytes of ``wsgi.input``; put back a stream that yields
    them, then the unread rest. Returns them to parse (None when the body was cut
    short: a disconnect).

    The bytes are held once: a single read is kept as the server's own object,
    several go into one growing buffer (a list joined at the end would briefly
    hold them twice) that is parsed through a view, without a copy.
    """
    stream = environ["wsgi.input"]
    first = b""
    buffer: io.BytesIO | None = None
    received = 0
    error: Exception | None = None
    try:
        while received < size:
            chunk = stream.read(size - received)
            if not chunk:
                break
            received += len(chunk)
            if buffer is None and not first:
                first = chunk
                continue
            if buffer is None:
                buffer = io.BytesIO()
                buffer.write(first)
                first = b""
            buffer.write(chunk)
    except Exception as exc:  # the app meets it when it reads this far
        # Kept without its traceback: its frames lead back to this one, which
        # holds the environ that will hold the error, a cycle that would keep
        # the buffer alive until the garbage collector runs.
        error = exc.with_traceback(None)
    joined = buffer is not None
    if buffer is None:
        buffer = io.BytesIO(first)  # shares ``first``: no copy
    else:
        buffer.seek(0)
    environ["wsgi.input"] = _ReplayedInput(buffer, stream, error)
    if error is not None or (declared and received < size):
        return None
    # A view is exported only to be parsed, and the caller releases it at once:
    # a BytesIO cannot close (nor be finalised cleanly) while one is alive.
    return buffer.getbuffer() if joined else first


class _ReplayedInput:
    """A ``wsgi.input`` that yields the buffered bytes, then reads on from the
    original stream (re-raising an error met while buffering, where it was met)."""

    def __init__(self, buffered: io.BytesIO, rest: Any, error: Exception | None) -> None:
        self._buffer = buffered
        self._rest = rest
        self._error = error

    def _read_rest(self, method: str, size: int) -> bytes:
        if self._error is not None:
            raise self._error
        data: bytes = (
            getattr(self._rest, method)() if size < 0 else getattr(self._rest, method)(size)
        )
        return data

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        data = self._buffer.read(size)
        if size < 0:
            return data + self._read_rest("read", -1)
        if len(data) < size and not (data and self._error is not None):
            # With an error pending, the bytes that did arrive come first, as a
            # short read (as the stream gave them); the next read raises it.
            data += self._read_rest("read", size - len(data))
        return data

    def readline(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        line = self._buffer.readline(size)
        if line.endswith(b"\n") or (0 <= size <= len(line)) or (line and self._error is not None):
            return line
        return line + self._read_rest("readline", size - len(line) if size >= 0 else -1)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines, total = [], 0
        for line in self:
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def close(self) -> None:
        close = getattr(self._rest, "close", None)
        if close is not None:
            close()
