"""``response_header``: echo the resolved session id in a response header.

Written once for both protocols: the id is echoed only when it is ASCII (ids
passed validation, so no CR/LF can reach a header either), and never over a
header of that name the app set itself. The ASGI variant wraps ``send`` (the
header goes on ``http.response.start`` and ``websocket.accept``); the WSGI one
wraps ``start_response``.

Usage::

    header = ResponseHeader("X-Session-ID")
    send = header.wrap_send(send, session)                           # ASGI
    start_response = header.wrap_start_response(start_response, session)  # WSGI
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

from otel_genai_session.session import SessionContext

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

__all__ = ["ResponseHeader"]

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Name = TypeVar("Name", str, bytes)

_START_MESSAGES: Final = frozenset({"http.response.start", "websocket.accept"})


class ResponseHeader:
    """The configured header name, in the forms both protocols compare with."""

    __slots__ = ("_lower", "_lower_bytes", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._lower = name.lower()
        self._lower_bytes = self._lower.encode("latin-1")

    def wrap_send(self, send: Send, session: SessionContext) -> Send:
        value = _echoed(session)
        if value is None:
            return send
        name, encoded = self._lower_bytes, value.encode("ascii")

        async def send_with_header(message: Message) -> None:
            if message["type"] in _START_MESSAGES:
                headers = list(message.get("headers", ()))
                if _absent(headers, name):
                    message = {**message, "headers": [*headers, (name, encoded)]}
            await send(message)

        return send_with_header

    def wrap_start_response(
        self, start_response: StartResponse, session: SessionContext
    ) -> StartResponse:
        value = _echoed(session)
        if value is None:
            return start_response
        name, lower = self.name, self._lower

        def start_response_with_header(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            if _absent(headers, lower):
                headers = [*headers, (name, value)]
            return start_response(status, headers, exc_info)

        return start_response_with_header


def _echoed(session: SessionContext) -> str | None:
    """The id to echo: only an ASCII one (header values are latin-1 at best)."""
    session_id = session.session_id
    return session_id if session_id is not None and session_id.isascii() else None


def _absent(headers: Iterable[tuple[Name, Name]], lower_name: Name) -> bool:
    return not any(key.lower() == lower_name for key, _ in headers)
