"""GenAISessionMiddleware: one session per ASGI request, held to the last byte.

Pure ASGI (no ``BaseHTTPMiddleware``), so the session is in effect for the
endpoint, streamed response bodies, Starlette background tasks and websocket
handlers alike, and is reset when the app returns, raises or is cancelled.

Usage::

    from fastapi import FastAPI
    from otel_genai_session.middleware import GenAISessionMiddleware

    app = FastAPI()
    app.add_middleware(
        GenAISessionMiddleware,
        cookie_mapping={"chat_session": "session_id"},
        body_mapping={"metadata.user_id": "user_id"},
    )

Ids from headers, cookies, query strings and bodies are client-controlled:
take anything you must trust (the user, the tenant) from authentication with
the ``extract`` hook instead.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

from otel_genai_session._validation import warn_once
from otel_genai_session.middleware._asgi_body import buffer_body
from otel_genai_session.middleware._keys import OPTIONS_KEY, SESSION_KEY
from otel_genai_session.middleware._options import MiddlewareOptions
from otel_genai_session.middleware._outer_context import OuterContext
from otel_genai_session.middleware._resolver import BodyNeeded, SessionResolver
from otel_genai_session.middleware._response_header import ResponseHeader
from otel_genai_session.session import (
    EMPTY_SESSION,
    SessionContext,
    _current,
    clear_session_context,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from otel_genai_session.middleware._options import SessionOptions

__all__ = ["MOST_HEADER_LINES", "GenAISessionMiddleware", "session_from_scope"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


MOST_HEADER_LINES: Final = 1000
"""Header lines read for ids; a request with more has the rest ignored (logged
once), so our work per request is bounded whatever the server accepts.
Common server defaults allow 100 (gunicorn, Tomcat, Apache); Node.js 2,000."""
TOO_MANY_LINES: Final = "Request with more than %d header lines: ids are read from the first %d"

_SESSION_SCOPES: Final = frozenset({"http", "websocket"})
_NAME, _VALUE = itemgetter(0), itemgetter(1)  # of a header line


def session_from_scope(scope: Mapping[str, Any]) -> SessionContext:
    """The session the middleware resolved for the request of ``scope``.

    Empty when the request did not pass through the middleware (or was
    excluded). For code that runs outside the request's task but is handed its
    scope, such as the tools of a stateful MCP server, which run in a task that
    was started by an earlier request::

        with session_context.resume(session_from_scope(scope)):
            ...
    """
    session = scope.get(SESSION_KEY)
    return session if isinstance(session, SessionContext) else EMPTY_SESSION


class GenAISessionMiddleware:
    """Puts the request's session ids in effect for the whole ASGI request.

    The session holds for the endpoint, streamed response bodies, background
    tasks and websocket connections, and is reset after the last byte (or when
    the app raises or is cancelled). ``lifespan`` passes through untouched.

    The ids come from the sources below, each field on its own: the ``extract``
    hook, then headers, cookies, query parameters, JSON body fields, baggage,
    and for ``session_id`` a generated id; the first valid value wins. A field
    is one of ``"session_id"``, ``"user_id"`` and ``"customer_id"``, or a
    session property, ``"property:<key>"`` (e.g. ``{"X-Experiment":
    "property:experiment"}``; the ``extract`` hook may return such keys too):
    properties follow the ids' precedence and bounds. Every
    option is checked here: a misconfiguration raises ``TypeError`` or
    ``ValueError`` naming the option. Ids a client sends are client-controlled:
    take the ones you must trust from authentication, with ``extract``.

    Args:
        app: the ASGI application to wrap (ASGI 3, or ASGI 2 told apart as
            uvicorn does).
        header_mapping: ``{header name: field}``, names case-insensitive. ``None``
            (the default) reads ``X-Session-ID`` into ``session_id``, ``X-User-ID``
            into ``user_id``, and ``X-Tenant-ID`` then ``X-Customer-ID`` into
            ``customer_id``; a mapping **replaces** those headers, and ``{}`` reads
            no header at all.
        cookie_mapping: ``{cookie name: field}``.
        query_mapping: ``{query parameter: field}``.
        body_mapping: ``{"dotted.path": field}`` into a JSON object body, e.g.
            ``{"metadata.user.id": "user_id"}``. Without it the body is never read.
        baggage_mapping: ``{baggage key: field}`` read from the W3C ``baggage``
            header: an allow-list, for trusted callers only.
        propagate_baggage: send the request's ids in the ``baggage`` header of
            every call an instrumented HTTP client makes during the request, in
            any middleware order.
        extract: ``extract(scope)`` (ASGI) or ``extract(environ)`` (WSGI) returns
            ``{field: value or None}``. It wins over every other source: a field
            it gives a value for is decided by it, and if that value fails
            validation the field is dropped (logged once), never left to a
            client-sent source. A field it gives ``None`` (or leaves out) goes to
            the other sources. If it raises or returns something other than a
            mapping, the error is logged once, with the hook's name, and the
            request goes on with the other sources.
        max_body_size: the most body bytes buffered to look for body fields
            (1 MiB by default); a larger body reaches the app whole, unparsed.
        max_value_length: the longest id accepted, in characters; a longer one
            is dropped, never truncated.
        generate_session_id: when no session id arrives, ``True`` generates a
            uuid4; or pass a callable that returns the id.
        response_header: a header name, e.g. ``"X-Session-ID"``: each response
            then carries the resolved session id, unless the app already set that
            header, so a client can continue the conversation. Only ASCII ids are
            echoed.
        exclude_paths: paths left alone: ``"/healthz"`` matches exactly,
            ``"/static/*"`` matches a prefix, and a ``re.compile(...)`` pattern
            must match the whole path. Excluded requests get an explicitly empty
            session, with no extraction.

    Example:
        ```python
        app.add_middleware(GenAISessionMiddleware, cookie_mapping={"sid": "session_id"})
        app = GenAISessionMiddleware(app, response_header="X-Session-ID")  # or wrap it
        ```
    """

    def __init__(self, app: ASGIApp, **options: Unpack[SessionOptions]) -> None:
        if not callable(app):
            raise TypeError(f"app must be an ASGI application, not {app!r}")
        self.app = app if _is_asgi3(app) else _asgi2_adapter(app)
        self._options = settings = MiddlewareOptions.from_keywords(**options)
        self._resolver = SessionResolver(settings, _ScopeReader())
        self._outer_context = OuterContext(settings.propagate_baggage)
        header = settings.response_header
        self._response_header = None if header is None else ResponseHeader(header)
        names = settings.header_names()
        self._header_slots = {name: index for index, name in enumerate(names)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in _SESSION_SCOPES:  # lifespan and unknown types
            await self.app(scope, receive, send)
            return
        if SESSION_KEY in scope:  # an outer instance handles this request
            self._options.warn_if_nested_differs(scope.get(OPTIONS_KEY), type(self).__name__)
            await self.app(scope, receive, send)
            return

        # The wanted headers' values, each in its slot, in one pass. (Headers
        # are read again on a repeat: every server gives a list, and Starlette
        # reads them once per Headers object.)
        headers = scope["headers"]
        if len(headers) > MOST_HEADER_LINES:
            headers = _first_lines(headers)
        slots = self._header_slots
        values: list[bytes | str | None] = [None] * len(slots)
        for name, value in headers:
            index = slots.get(name)
            if index is not None:
                if values[index] is not None:  # a header sent several times
                    values = self._joined_values(headers)
                    break
                values[index] = value

        session, body = self._resolver.resolve(scope, values)
        if body is not None:
            receive, session = await self._read_body(body, session, receive)
        scope[SESSION_KEY] = session
        scope[OPTIONS_KEY] = self._options
        if self._response_header is not None:
            send = self._response_header.wrap_send(send, session)

        token = _current.set(session)
        baggage_token = self._outer_context.enter(session)
        try:
            await self.app(scope, receive, send)
        finally:
            if baggage_token is not None:
                self._outer_context.leave(baggage_token)
            try:
                _current.reset(token)  # back to what it was, whatever the app did
            except ValueError:  # a foreign context: the core knows what to restore
                clear_session_context(token)

    def _joined_values(self, headers: Iterable[tuple[bytes, bytes]]) -> list[bytes | str | None]:
        """The wanted values with repeated lines joined as a WSGI server joins
        them (``,``; ``; `` for cookies), in order, each distinct line once
        (what resolution reads of a list does not depend on repeats), but for
        ``baggage``, where the last entry of a key wins and the W3C limits
        apply to the whole header: every line, as WSGI sees them. Linear and
        in C however many lines were sent: pick the wanted lines, then per
        wanted name present, its lines."""
        slots = self._header_slots
        wanted = list(compress(headers, map(slots.__contains__, map(_NAME, headers))))
        names = list(map(_NAME, wanted))
        values: list[bytes | str | None] = [None] * len(slots)
        for name in set(names):
            lines = list(compress(map(_VALUE, wanted), map(name.__eq__, names)))
            if name == b"baggage":
                values[slots[name]] = b",".join(lines)
            elif lines.count(lines[0]) == len(lines):  # one line n times: compared, not hashed
                values[slots[name]] = lines[0]
            else:
                separator = b"; " if name == b"cookie" else b","
                values[slots[name]] = separator.join(dict.fromkeys(lines))
        return values

    async def _read_body(
        self, body: BodyNeeded, session_so_far: SessionContext, receive: Receive
    ) -> tuple[Receive, SessionContext]:
        """Buffer the body, finish the session from it, and return a ``receive``
        that replays the very same messages to the app, then the live ones."""
        # Spans made while the body is read (an outer server instrumentation's
        # receive spans) get the ids found before it.
        reading = _current.set(session_so_far)
        try:
            replay, data, skipped = await buffer_body(receive, self._options.max_body_size)
        finally:
            _current.reset(reading)
        if data is None:
            return replay, self._resolver.without_body(body, skipped)
        return replay, self._resolver.with_body(body, data)


def _first_lines(headers: Sequence[tuple[bytes, bytes]]) -> Sequence[tuple[bytes, bytes]]:
    warn_once(TOO_MANY_LINES, MOST_HEADER_LINES, MOST_HEADER_LINES)
    return headers[:MOST_HEADER_LINES]


class _ScopeReader:
    """What resolution may need besides the headers, from an ASGI scope (a
    :class:`~._resolver.RequestReader`)."""

    __slots__ = ()

    def query_string(self, scope: Scope) -> bytes:
        return scope.get("query_string", b"")  # type: ignore[no-any-return]

    def path(self, scope: Scope) -> str:
        return scope["path"]  # type: ignore[no-any-return]

    def method(self, scope: Scope) -> str:
        return scope.get("method", "GET")  # type: ignore[no-any-return]  # none on websockets

    def reads_unknown_length(self, scope: Scope, headers: Mapping[bytes, bytes]) -> bool:
        """Chunked (HTTP/1.1) or HTTP/2 and later: the server says when it ends."""
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        return chunked or scope.get("http_version", "1.1") not in ("1.0", "1.1")


if sys.version_info >= (3, 14):  # pragma: no cover - depends on the interpreter
    from inspect import iscoroutinefunction
else:  # asyncio's also knows functions marked by asgiref/Django before 3.12
    from asyncio import iscoroutinefunction


def _is_asgi3(app: object) -> bool:
    """uvicorn's rule: a class is ASGI 3 when its instances are awaitable; any
    other app when it (or its ``__call__``) is a coroutine function."""
    if inspect.isclass(app):
        return hasattr(app, "__await__")
    call = getattr(app, "__call__", None)  # noqa: B004 - the method itself, as uvicorn reads it
    return iscoroutinefunction(app) or iscoroutinefunction(call)


def _asgi2_adapter(app: Any) -> ASGIApp:
    """An ASGI 3 callable for an ASGI 2 ("double callable") application."""

    async def asgi3(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope)(receive, send)

    return asgi3
