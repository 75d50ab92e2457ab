"""Hand-written references: the least code that does the same job.

They set the floor each budget is held against: what any middleware that puts
three ids in a contextvar for the request must pay at least. They validate
nothing and handle no edge case; they are not meant for production.

The validating floors (:class:`ValidatingHeaderFloor`, :class:`ValidatingWSGIFloor`)
add the least a middleware that keeps its promises must do for a session it
has not seen: each id checked by the plain case of the validation rule (1 to
200 printable ASCII characters, no space or ``,``: one ``translate`` in C),
and an immutable value with its span attributes built. No memo, no hashing,
no edge case: what a new conversation's request costs at least, in Python.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

__all__ = [
    "BODY_IDS",
    "HEADER_IDS",
    "BodyFloor",
    "EmptyLayer",
    "HeaderFloor",
    "ValidatingHeaderFloor",
    "ValidatingWSGIFloor",
    "WSGIFloor",
    "json_loads",
    "naive_json_middleware",
]

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[..., Any]

ids: ContextVar[tuple[Any, ...]] = ContextVar("bench_ids")

HEADER_IDS = {b"x-session-id": 0, b"x-user-id": 1, b"x-tenant-id": 2}
BODY_IDS = ("session_id", "user_id", "customer_id")  # under "metadata" in the bench bodies

try:  # the same parser as the middleware's: orjson when installed
    from orjson import loads as json_loads
except ImportError:  # pragma: no cover - depends on the environment
    json_loads = json.loads  # type: ignore[assignment]


class EmptyLayer:
    """A pure-ASGI layer that does nothing: the price of one more call frame."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class HeaderFloor:
    """Three headers -> one contextvar set/reset around the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found: list[str | None] = [None, None, None]
        for name, value in scope["headers"]:
            index = HEADER_IDS.get(name)
            if index is not None:
                found[index] = value.decode()
        token = ids.set((found[0], found[1], found[2]))
        try:
            await self.app(scope, receive, send)
        finally:
            ids.reset(token)


class BodyFloor:
    """Buffer the body, parse it once (same parser), take 3 ids, replay the messages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        metadata = json_loads(b"".join(chunks)).get("metadata") or {}
        token = ids.set(tuple(metadata.get(key) for key in BODY_IDS))  # type: ignore[arg-type]
        pending = iter(messages)

        async def replay() -> Message:
            message = next(pending, None)
            return await receive() if message is None else message

        try:
            await self.app(scope, replay, send)
        finally:
            ids.reset(token)


def naive_json_middleware(app: ASGIApp) -> ASGIApp:
    """What many write first: ``await request.json()`` in a BaseHTTPMiddleware."""
    from starlette.middleware.base import BaseHTTPMiddleware

    async def dispatch(request: Any, call_next: Any) -> Any:
        metadata = (await request.json()).get("metadata") or {}
        token = ids.set(tuple(metadata.get(key) for key in BODY_IDS))
        try:
            return await call_next(request)
        finally:
            ids.reset(token)

    return BaseHTTPMiddleware(app, dispatch=dispatch)


class WSGIFloor:
    """Three environ keys -> one contextvar set before the app call, reset after the
    last chunk (a generator: the iteration runs inside the same set/reset)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        token = ids.set(
            (
                environ.get("HTTP_X_SESSION_ID"),
                environ.get("HTTP_X_USER_ID"),
                environ.get("HTTP_X_TENANT_ID"),
            )
        )
        try:
            result = self.app(environ, start_response)
            try:
                yield from result
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        finally:
            ids.reset(token)


# -- validating floors ---------------------------------------------------------------

_PLAIN_ID: bytes = bytes(c if 0x21 <= c < 0x7F and c != ord(",") else 0 for c in range(256))
"""Keeps the bytes a plain id is made of, maps every other byte to NUL."""
_MOST_ID_BYTES = 200


def _session(
    session_id: str | None, user_id: str | None, customer_id: str | None
) -> tuple[str | None, str | None, str | None, MappingProxyType[str, str]]:
    """The ids and their read-only span attributes: the least a session value is."""
    attributes: dict[str, str] = {}
    if session_id is not None:
        attributes["session.id"] = session_id
    if user_id is not None:
        attributes["user.id"] = user_id
    if customer_id is not None:
        attributes["customer.id"] = customer_id
    return session_id, user_id, customer_id, MappingProxyType(attributes)


class ValidatingHeaderFloor:
    """:class:`HeaderFloor`, each id checked by the rule's plain case, then one
    immutable value with its attributes in the contextvar."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found: list[str | None] = [None, None, None]
        for name, value in scope["headers"]:
            index = HEADER_IDS.get(name)
            if (
                index is not None
                and 0 < len(value) <= _MOST_ID_BYTES
                and 0 not in value.translate(_PLAIN_ID)
            ):
                found[index] = value.decode("ascii")
        token = ids.set(_session(found[0], found[1], found[2]))
        try:
            await self.app(scope, receive, send)
        finally:
            ids.reset(token)


_ENVIRON_IDS = ((0, "HTTP_X_SESSION_ID"), (1, "HTTP_X_USER_ID"), (2, "HTTP_X_TENANT_ID"))


class ValidatingWSGIFloor:
    """:class:`WSGIFloor`, each id checked by the rule's plain case, then one
    immutable value with its attributes in the contextvar."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        found: list[str | None] = [None, None, None]
        for index, key in _ENVIRON_IDS:
            value = environ.get(key)  # latin-1 text (PEP 3333); ASCII only: it is the bytes
            if (
                value is not None
                and 0 < len(value) <= _MOST_ID_BYTES
                and value.isascii()
                and 0 not in value.encode("ascii").translate(_PLAIN_ID)
            ):
                found[index] = value
        token = ids.set(_session(found[0], found[1], found[2]))
        try:
            result = self.app(environ, start_response)
            try:
                yield from result
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        finally:
            ids.reset(token)
