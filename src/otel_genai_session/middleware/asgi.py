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

from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final

from otel_genai_session._otel_context import attach_baggage, detach_quietly
from otel_genai_session.middleware._extraction import SessionExtractor
from otel_genai_session.middleware._span import span_lookup, tag_span
from otel_genai_session.session import (
    EMPTY_SESSION,
    SessionContext,
    _current,
    clear_session_context,
)
from otel_genai_session.session import SESSION_FIELDS as FIELDS

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from otel_genai_session.middleware._options import SessionOptions

__all__ = ["SCOPE_KEY", "GenAISessionMiddleware", "session_from_scope"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY: Final = "opentelemetry.util.genai.session"
"""The request's :class:`SessionContext` in ``scope``; also marks the request as
handled, so a second instance of the middleware passes it through. Read it with
:func:`session_from_scope`."""


def session_from_scope(scope: Mapping[str, Any]) -> SessionContext:
    """The session the middleware resolved for the request of ``scope``.

    Empty when the request did not pass through the middleware (or was
    excluded). For code that runs outside the request's task but is handed its
    scope, such as the tools of a stateful MCP server, which run in a task that
    was started by an earlier request::

        with session_context.resume(session_from_scope(scope)):
            ...
    """
    session = scope.get(SCOPE_KEY)
    return session if isinstance(session, SessionContext) else EMPTY_SESSION

_START_MESSAGES: Final = frozenset({"http.response.start", "websocket.accept"})


class GenAISessionMiddleware:
    """Puts the request's session ids in effect for the whole ASGI request.

    Args:
        app: the ASGI application to wrap.
        **options: see :class:`~._extraction.SessionExtractor` (the same
            options as :class:`~.wsgi.SessionWSGIMiddleware`).
    """

    def __init__(self, app: ASGIApp, **options: Unpack[SessionOptions]) -> None:
        if not callable(app):
            raise TypeError(f"app must be an ASGI application, not {app!r}")
        if isinstance(app, type):  # ASGI 2: the class is called with the scope
            app = _asgi2_adapter(app)
        self.app = app
        self._extractor = extractor = SessionExtractor(**options)
        self._read_context, self._span_key = span_lookup()
        header = extractor.response_header
        self._response_header = None if header is None else header.lower().encode("latin-1")
        # Bound once: the request path reads these on every request.
        self._slots, self._memo = extractor.slots, extractor.memo
        self._propagate_baggage = extractor.propagate_baggage
        # The common configuration (ids from headers/cookies only, nothing else to
        # do per request) takes a short path: scan, one memo lookup.
        self._plain = (
            extractor.memoizable
            and not extractor.query
            and not extractor.excludes_paths
            and self._response_header is None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if (scope_type != "http" and scope_type != "websocket") or SCOPE_KEY in scope:
            await self.app(scope, receive, send)
            return

        # One pass over the headers; each wanted one lands in its slot (repeated
        # lines joined as a WSGI server would).
        slots = self._slots
        values: list[bytes | None] = [None] * len(slots)
        repeated: dict[int, list[bytes]] | None = None
        for name, value in scope["headers"]:
            index = slots.get(name)
            if index is not None:
                if values[index] is None:
                    values[index] = value
                else:  # joined once at the end: linear, however many lines
                    repeated = repeated or {}
                    repeated.setdefault(index, [values[index]]).append(value)  # type: ignore[list-item]
        if repeated:
            names = self._extractor.slot_names
            for index, lines in repeated.items():
                values[index] = (b"; " if names[index] == b"cookie" else b",").join(lines)
        if self._plain:
            key = tuple(values)
            session = self._memo.get(key) or self._extractor.remember(
                key, self._extractor.headers_of(values), b""
            )
        else:
            receive, send, session = await self._resolve(scope, receive, send, values)
        scope[SCOPE_KEY] = session

        token = _current.set(session)
        baggage_token = None
        try:
            if session.attributes:
                span = self._read_context().get(self._span_key)
                if span is not None:
                    tag_span(span)  # e.g. an outer server span, started before us
                if self._propagate_baggage:
                    baggage_token = attach_baggage(session.attributes)
            await self.app(scope, receive, send)
        finally:
            if baggage_token is not None:
                detach_quietly(baggage_token)
            clear_session_context(token)  # back to what it was, whatever the app did

    async def _resolve(
        self, scope: Scope, receive: Receive, send: Send, values: list[bytes | None]
    ) -> tuple[Receive, Send, SessionContext]:
        """Every other configuration: exclusions, query, hook, body, generator and
        the response header."""
        extractor = self._extractor
        if extractor.excludes_paths and extractor.is_excluded(scope["path"]):
            return receive, send, EMPTY_SESSION
        query_string = scope.get("query_string", b"") if extractor.query else b""
        if extractor.memoizable:
            key = (*values, query_string)
            session = self._memo.get(key) or extractor.remember(
                key, extractor.headers_of(values), query_string
            )
        else:
            receive, session = await _every_source(extractor, scope, receive, values, query_string)
        if self._response_header is not None and session.session_id is not None:
            send = _with_response_header(send, self._response_header, session.session_id)
        return receive, send, session


async def _every_source(
    extractor: SessionExtractor,
    scope: Scope,
    receive: Receive,
    values: list[bytes | None],
    query_string: bytes,
) -> tuple[Receive, SessionContext]:
    """The general path (hook, body or generator): every source, the body last."""
    headers = extractor.headers_of(values)
    found = extractor.ids_from_request(headers, query_string, scope)
    if extractor.body_paths and scope["type"] == "http":
        size = extractor.body_read_size(
            found,
            scope["method"],
            headers.get(b"content-type"),
            headers.get(b"content-encoding"),
            headers.get(b"content-length"),
            b"chunked" in headers.get(b"transfer-encoding", b"").lower()
            or scope.get("http_version", "1.1") not in ("1.0", "1.1"),
        )
        if size is not None:
            # Spans made while the body is read (an outer server
            # instrumentation's receive spans) get the ids found so far.
            so_far = SessionContext._validated(*map(found.get, FIELDS)) if found else EMPTY_SESSION
            reading = _current.set(so_far)
            try:
                receive = await _buffer_body(extractor, found, receive)
            finally:
                _current.reset(reading)
    return receive, extractor.session(found, headers)


def _asgi2_adapter(app_class: type[Any]) -> ASGIApp:
    """An ASGI 3 callable for an ASGI 2 ("double callable") application class."""

    async def asgi3(scope: Scope, receive: Receive, send: Send) -> None:
        await app_class(scope)(receive, send)

    return asgi3


async def _buffer_body(
    extractor: SessionExtractor, found: dict[str, str], receive: Receive
) -> Receive:
    """Read the body up to ``max_body_size``, look for ids, and return a
    ``receive`` that hands the app the very same messages, then the live ones."""
    limit = extractor.max_body_size
    # Each buffered message costs about 256 bytes besides its body: a client
    # sending empty or 1-byte messages must not make us hold more than a small
    # multiple of the limit, so past this count the body is handed over as is.
    most_messages = max(16, limit // 256)
    messages: deque[Message] = deque()
    chunks: list[bytes] = []
    size = 0
    error: Exception | None = None
    while True:
        try:
            message = await receive()
        except Exception as exc:  # the app will meet it where it would have
            # Without its traceback, whose frames would hold it (through this
            # frame) and the buffered messages in a cycle until a collection.
            error = exc.with_traceback(None)
            break
        messages.append(message)
        if message["type"] != "http.request":  # http.disconnect mid-body
            break
        body = message.get("body", b"")
        size += len(body)
        if size > limit or len(messages) > most_messages:  # pass it on untouched, no parse
            break
        chunks.append(body)
        if not message.get("more_body", False):
            extractor.ids_from_body(found, b"".join(chunks))
            break
    del chunks

    async def replay() -> Message:
        if messages:
            return messages.popleft()
        if error is not None:
            raise error
        return await receive()

    return replay


def _with_response_header(send: Send, name: bytes, session_id: str) -> Send:
    try:
        value = session_id.encode("ascii")
    except UnicodeEncodeError:  # only ASCII ids are echoed into headers
        return send

    async def send_with_header(message: Message) -> None:
        if message["type"] in _START_MESSAGES:
            headers = list(message.get("headers", ()))
            if not any(key.lower() == name for key, _ in headers):
                headers.append((name, value))
                message = {**message, "headers": headers}
        await send(message)

    return send_with_header
