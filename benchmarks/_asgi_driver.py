"""A raw, in-process ASGI driver: scope, receive and send built by hand.

No HTTP client and no server: each request costs the driver about a
microsecond, the same for every variant, so what differs between variants is
the middleware alone. ``receive`` behaves as uvicorn's does (ASGI spec 2.3):
the request's messages, then, once the response is complete, a disconnect,
so Starlette's disconnect listener of streaming responses runs as in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _harness import Block, now

__all__ = ["ASGIRequest", "asgi_block", "drive", "fresh_headers", "get", "post_json"]

ASGIApp = Callable[..., Any]
_DISCONNECT = {"type": "http.disconnect"}
_CHUNK = 64 * 1024  # uvicorn hands bodies over in reads of this size

COMMON_HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"bench/1.0"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
]
ID_HEADERS = [
    (b"x-session-id", b"conv-7f3a9c2e"),
    (b"x-user-id", b"user-1842"),
    (b"x-tenant-id", b"acme-corp"),
]
EXPECTED_IDS = ("conv-7f3a9c2e", "user-1842", "acme-corp")


@dataclass(frozen=True)
class ASGIRequest:
    """A request template; each drive works on a fresh copy of the scope."""

    scope: dict[str, Any]
    headers: list[tuple[bytes, bytes]]
    messages: tuple[dict[str, Any], ...]
    size: int = 0

    @property
    def raw_headers(self) -> bytes:
        return b"\n".join(name + b":" + value for name, value in self.headers)


def fresh_headers(raw: bytes) -> list[tuple[bytes, bytes]]:
    """New bytes objects for every name and value, as a server's parser makes
    them: a hash cached in a reused object would flatter any lookup keyed by
    header values."""
    return [tuple(line.split(b":", 1)) for line in raw.split(b"\n")]  # type: ignore[misc]


def _scope(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 54321),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
    }


def get(path: str, with_ids: bool = True) -> ASGIRequest:
    headers = COMMON_HEADERS + (ID_HEADERS if with_ids else [])
    message = {"type": "http.request", "body": b"", "more_body": False}
    return ASGIRequest(_scope("GET", path), headers, (message,))


def post_json(path: str, body: bytes, ids_in_headers: bool = False) -> ASGIRequest:
    headers = [
        *COMMON_HEADERS,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(ID_HEADERS if ids_in_headers else []),
    ]
    pieces = [body[i : i + _CHUNK] for i in range(0, len(body), _CHUNK)] or [b""]
    messages = tuple(
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    )
    return ASGIRequest(_scope("POST", path), headers, messages, len(body))


async def drive(
    app: ASGIApp, request: ASGIRequest, raw: bytes, sent: list[Any] | None = None
) -> None:
    """One request through ``app``; ``raw`` is ``request.raw_headers``; ``sent``
    (if given) collects the messages sent."""
    scope = request.scope.copy()
    scope["headers"] = fresh_headers(raw)
    pending = iter(request.messages)
    finished = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        message = next(pending, None)
        if message is not None:
            return message
        await finished
        return _DISCONNECT

    async def send(message: dict[str, Any]) -> None:
        if sent is not None:
            sent.append(message)
        if (
            message["type"] == "http.response.body"
            and not message.get("more_body", False)
            and not finished.done()
        ):
            finished.set_result(None)

    await app(scope, receive, send)


def asgi_block(loop: asyncio.AbstractEventLoop, app: ASGIApp, request: ASGIRequest) -> Block:
    """A harness block: ``n`` sequential requests on ``loop``."""

    raw = request.raw_headers

    async def run(n: int) -> float:
        started = now()
        for _ in range(n):
            await drive(app, request, raw)
        return now() - started

    def block(n: int) -> float:
        return loop.run_until_complete(run(n))

    return block
