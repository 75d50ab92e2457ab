"""SessionWSGIMiddleware: one session per WSGI request, including its response body.

WSGI response bodies are often produced after the app has returned (Flask
streaming, generators), sometimes in another thread, and servers reuse threads
between requests. So the request runs in its own copy of the context: the app
call, every ``next()`` of the response and its ``close()`` are entered into
that copy, and nothing is ever left set on the server's thread, whatever the
app did (even ``set_session_context`` without a clear).

Usage::

    from flask import Flask
    from otel_genai_session.middleware import SessionWSGIMiddleware

    app = Flask(__name__)
    app.wsgi_app = SessionWSGIMiddleware(
        app.wsgi_app, header_mapping={"X-Conversation": "session_id"}
    )

Ids from headers, cookies, query strings and bodies are client-controlled:
take anything you must trust (the user, the tenant) from authentication with
the ``extract`` hook instead. WSGI cannot tell ``X-Session_ID`` from
``X-Session-ID`` (both become ``HTTP_X_SESSION_ID``); run a server that drops
underscore headers (gunicorn >= 22 does) if that matters to you.
"""

from __future__ import annotations

import contextvars
import io
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final

from otel_genai_session._otel_context import start_propagating
from otel_genai_session.middleware._extraction import SessionExtractor
from otel_genai_session.middleware._span import span_lookup, tag_span
from otel_genai_session.session import EMPTY_SESSION, SessionContext, _current

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

    from otel_genai_session.middleware._options import SessionOptions

__all__ = ["ENVIRON_KEY", "SessionWSGIMiddleware"]

ENVIRON_KEY: Final = "opentelemetry.util.genai.session"
"""The request's :class:`SessionContext` in the environ; also marks the request
as handled, so a second instance of the middleware passes it through."""

_PLAIN_RESULTS: Final = (list, tuple)


class SessionWSGIMiddleware:
    """Puts the request's session ids in effect for the whole WSGI request.

    Args:
        wsgi_app: the WSGI application to wrap.
        **options: see :class:`~._extraction.SessionExtractor` (the same
            options as :class:`~.asgi.GenAISessionMiddleware`).
    """

    def __init__(self, wsgi_app: WSGIApplication, **options: Unpack[SessionOptions]) -> None:
        if not callable(wsgi_app):
            raise TypeError(f"wsgi_app must be a WSGI application, not {wsgi_app!r}")
        self.wsgi_app = wsgi_app
        self._extractor = extractor = SessionExtractor(**options)
        # The extractor's header slots as the environ spells them (PEP 3333).
        self._environ_keys = tuple(map(_environ_key, extractor.slot_names))
        self._read_context, self._span_key = span_lookup()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if ENVIRON_KEY in environ:
            return self.wsgi_app(environ, start_response)
        session = self._session_of(environ)
        environ[ENVIRON_KEY] = session
        header = self._extractor.response_header
        if header is not None and session.session_id is not None:
            start_response = _with_response_header(start_response, header, session.session_id)

        context = contextvars.copy_context()
        result = context.run(self._call_app, environ, start_response, session)
        file_wrapper = environ.get("wsgi.file_wrapper")
        if type(result) in _PLAIN_RESULTS or (
            isinstance(file_wrapper, type) and isinstance(result, file_wrapper)
        ):
            # Nothing runs lazily, or the server's sendfile path; as-is also keeps
            # len(), which servers use (wsgiref sets Content-Length for one block).
            return result
        return _SessionResponse(result, context)

    def _call_app(
        self, environ: WSGIEnvironment, start_response: StartResponse, session: SessionContext
    ) -> Iterable[bytes]:
        _current.set(session)  # in the request's own context copy: nothing to reset
        if session.attributes:
            span = self._read_context().get(self._span_key)
            if span is not None:
                tag_span(span)  # e.g. an outer server span, started before us
        if self._extractor.propagate_baggage:
            start_propagating()  # lives as long as this request's context
        return self.wsgi_app(environ, start_response)

    def _session_of(self, environ: WSGIEnvironment) -> SessionContext:
        extractor = self._extractor
        if extractor.excludes_paths and extractor.is_excluded(_request_path(environ)):
            return EMPTY_SESSION
        raw = tuple(map(environ.get, self._environ_keys))
        query = environ.get("QUERY_STRING", "") if extractor.query else ""
        if extractor.memoizable:  # memoised on the environ's own strings: no encoding
            key = (*raw, query)
            cached = extractor.memo.get(key)
            if cached is not None:
                return cached
        headers = extractor.headers_of(map(_wire_bytes_or_none, raw))
        query_string = _wire_bytes(query)
        if extractor.memoizable:
            return extractor.remember(key, headers, query_string)
        found = extractor.ids_from_request(headers, query_string, environ)
        size = extractor.body_read_size(
            found,
            environ.get("REQUEST_METHOD", "GET"),
            headers.get(b"content-type"),
            headers.get(b"content-encoding"),
            headers.get(b"content-length"),
            bool(environ.get("wsgi.input_terminated")),
        )
        if size is not None:
            body = _buffer_input(environ, size, declared=b"content-length" in headers)
            try:
                if body is not None and len(body) <= extractor.max_body_size:
                    extractor.ids_from_body(found, body)
            finally:
                if isinstance(body, memoryview):
                    body.release()  # the buffer is the app's to read (and close) now
        return extractor.session(found, headers)


def _environ_key(name: bytes) -> str:
    key = name.decode("latin-1").upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


def _request_path(environ: WSGIEnvironment) -> str:
    """The path as ASGI gives it (decoded text), from PEP 3333's latin-1 string."""
    path: str = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if path.isascii():
        return path
    # Like urllib.parse.unquote, which ASGI servers use for scope["path"].
    return _wire_bytes(path).decode("utf-8", "replace")


def _wire_bytes_or_none(value: str | None) -> bytes | None:
    return None if value is None else _wire_bytes(value)


def _wire_bytes(value: str) -> bytes:
    """PEP 3333 strings are the wire bytes decoded as latin-1: undo that, so the
    extractor decodes them as UTF-8 exactly as it does ASGI's bytes."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # a server that decoded otherwise: take it as text
        return value.encode("utf-8", "surrogateescape")


def _buffer_input(environ: WSGIEnvironment, size: int, declared: bool) -> bytes | memoryview | None:
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


class _SessionResponse:
    """The app's response iterable, every step of it run in the request's context.

    ``close()`` reaches the app's iterable exactly once, also when the server
    closes without iterating.
    """

    __slots__ = ("_closed", "_context", "_iterable")

    def __init__(self, iterable: Iterable[bytes], context: contextvars.Context) -> None:
        self._iterable = iterable
        self._context = context
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        run = self._context.run
        iterator = run(iter, self._iterable)
        # A C-level loop: each step enters the context and calls the app's
        # __next__ with no Python frame of ours; its StopIteration ends the map.
        return map(run, repeat(iterator.__next__))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._iterable, "close", None)
        if close is not None:
            self._context.run(close)


def _with_response_header(
    start_response: StartResponse, name: str, session_id: str
) -> StartResponse:
    if not session_id.isascii():  # only ASCII ids are echoed into headers
        return start_response
    lowered = name.lower()

    def start_response_with_header(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if not any(key.lower() == lowered for key, _ in headers):
            headers = [*headers, (name, session_id)]
        return start_response(status, headers, exc_info)

    return start_response_with_header
