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
from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final

from otel_genai_session.middleware._keys import OPTIONS_KEY, SESSION_KEY
from otel_genai_session.middleware._options import MiddlewareOptions
from otel_genai_session.middleware._outer_context import OuterContext
from otel_genai_session.middleware._resolver import (
    OVER_LIMIT,
    BodyNeeded,
    SessionResolver,
    wire_bytes,
)
from otel_genai_session.middleware._response_header import ResponseHeader
from otel_genai_session.middleware._wsgi_body import buffer_input
from otel_genai_session.session import EMPTY_SESSION, SessionContext, _current

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

    from otel_genai_session.middleware._options import SessionOptions

__all__ = ["SessionWSGIMiddleware", "session_from_environ"]


_PLAIN_RESULTS: Final = (list, tuple)


def session_from_environ(environ: Mapping[str, Any]) -> SessionContext:
    """The session the middleware resolved for the request of ``environ``.

    Empty when the request did not pass through the middleware (or was
    excluded). For code handed the environ outside the request's context,
    such as a worker thread the view started::

        with session_context.resume(session_from_environ(environ)):
            ...
    """
    session = environ.get(SESSION_KEY)
    return session if isinstance(session, SessionContext) else EMPTY_SESSION


class SessionWSGIMiddleware:
    """Puts the request's session ids in effect for the whole WSGI request.

    The app call, every step of the response iterable and its ``close()`` run in
    one per-request copy of the context, so a streamed body still sees the
    session and nothing leaks into the server's thread.

    The options are those of the ASGI ``GenAISessionMiddleware``, with the same
    names, defaults and meaning (its docstring lists them, and so does
    docs/configuration.md, generated from it); here ``extract`` is called with
    the WSGI ``environ``. Every option is checked here: a misconfiguration
    raises ``TypeError`` or ``ValueError`` naming the option.

    Args:
        wsgi_app: the WSGI application to wrap.

    Example:
        ```python
        app.wsgi_app = SessionWSGIMiddleware(app.wsgi_app, cookie_mapping={"sid": "session_id"})
        ```
    """

    def __init__(self, wsgi_app: WSGIApplication, **options: Unpack[SessionOptions]) -> None:
        if not callable(wsgi_app):
            raise TypeError(f"wsgi_app must be a WSGI application, not {wsgi_app!r}")
        self.wsgi_app = wsgi_app
        self._options = settings = MiddlewareOptions.from_keywords(**options)
        self._resolver = SessionResolver(settings, _EnvironReader())
        self._outer_context = OuterContext(settings.propagate_baggage)
        header = settings.response_header
        self._response_header = None if header is None else ResponseHeader(header)
        # The headers resolution reads, as the environ spells them (PEP 3333).
        self._environ_keys = tuple(map(_environ_key, settings.header_names()))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if SESSION_KEY in environ:  # an outer instance handles this request
            self._options.warn_if_nested_differs(environ.get(OPTIONS_KEY), type(self).__name__)
            return self.wsgi_app(environ, start_response)

        # Servers join a header sent several times already (PEP 3333).
        values: list[bytes | str | None] = list(map(environ.get, self._environ_keys))
        session, body = self._resolver.resolve(environ, values)
        if body is not None:
            session = self._read_body(environ, body)
        environ[SESSION_KEY] = session
        environ[OPTIONS_KEY] = self._options
        if self._response_header is not None:
            start_response = self._response_header.wrap_start_response(start_response, session)

        context = contextvars.copy_context()  # the request's own: nothing to restore
        result = context.run(self._run_app, session, environ, start_response)
        file_wrapper = environ.get("wsgi.file_wrapper")
        if type(result) in _PLAIN_RESULTS or (
            isinstance(file_wrapper, type) and isinstance(result, file_wrapper)
        ):
            # Nothing runs lazily, or the server's sendfile path; as-is also keeps
            # len(), which servers use (wsgiref sets Content-Length for one block).
            return result
        return _SessionResponse(result, context)

    def _run_app(
        self, session: SessionContext, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        # In the request's own context copy: nothing to reset, and the Baggage
        # lives exactly as long as the request.
        _current.set(session)
        self._outer_context.enter(session)
        return self.wsgi_app(environ, start_response)

    def _read_body(self, environ: WSGIEnvironment, body: BodyNeeded) -> SessionContext:
        """Buffer the body into a replaying ``wsgi.input``, finish the session from it."""
        data = buffer_input(environ, body.size, body.declared)
        limit = self._options.max_body_size
        try:
            if data is None:  # the client left before the end
                return self._resolver.without_body(body, None)
            if len(data) > limit:  # of unknown length, and longer than the limit
                return self._resolver.without_body(body, OVER_LIMIT % limit)
            return self._resolver.with_body(body, data)
        finally:
            if isinstance(data, memoryview):
                data.release()  # the buffer is the app's to read (and close) now


class _EnvironReader:
    """What resolution may need besides the headers, from a WSGI environ (a
    :class:`~._resolver.RequestReader`)."""

    __slots__ = ()

    def query_string(self, environ: WSGIEnvironment) -> str:
        return environ.get("QUERY_STRING", "")  # type: ignore[no-any-return]

    def path(self, environ: WSGIEnvironment) -> str:
        """The path as ASGI gives it (decoded text), from PEP 3333's latin-1 string."""
        path: str = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if path.isascii():
            return path
        # Like urllib.parse.unquote, which ASGI servers use for scope["path"].
        return wire_bytes(path).decode("utf-8", "replace")

    def method(self, environ: WSGIEnvironment) -> str:
        return environ.get("REQUEST_METHOD", "GET")  # type: ignore[no-any-return]

    def reads_unknown_length(
        self, environ: WSGIEnvironment, headers: Mapping[bytes, bytes]
    ) -> bool:
        """Only when the server promises EOF at the body's end (``wsgi.input_terminated``)."""
        return bool(environ.get("wsgi.input_terminated"))


def _environ_key(name: bytes) -> str:
    key = name.decode("latin-1").upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


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
