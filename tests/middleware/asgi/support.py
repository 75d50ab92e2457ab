"""Helpers for the ASGI tests: raw ASGI plumbing, span queries, a real uvicorn server.

Raw ASGI callables are used where a test must see exactly which messages were
exchanged (how often ``receive`` was called, which ``send`` messages left);
real framework apps and a real server everywhere else.
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, Literal

import httpx
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import get_session_context
from otel_genai_session.attributes import CUSTOMER_ID, SESSION_ID, USER_ID

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Ids = tuple[str | None, str | None, str | None]
NO_IDS: Ids = (None, None, None)
HTTPImpl = Literal["h11", "httptools"]
Lifespan = Literal["on", "off"]

# What the "original" receive returns once its script is exhausted: marked, so a
# test can tell it from a disconnect the middleware would have made up.
ORIGINAL_END: Mapping[str, Any] = {"type": "http.disconnect", "origin": "server"}


def ids_of(span: ReadableSpan) -> Ids:
    attributes = span.attributes or {}
    values = (attributes.get(SESSION_ID), attributes.get(USER_ID), attributes.get(CUSTOMER_ID))
    return tuple(None if value is None else str(value) for value in values)  # type: ignore[return-value]


def ids_from_json(data: Mapping[str, Any]) -> Ids:
    return data["session_id"], data["user_id"], data["customer_id"]


def current_ids() -> Ids:
    session = get_session_context()
    return session.session_id, session.user_id, session.customer_id


def spans_named(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name.startswith(prefix)]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll (bounded) for work a server thread finishes after the response."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.005)


def http_scope(
    method: str = "POST",
    path: str = "/",
    headers: Iterable[tuple[bytes, bytes]] = (),
    query_string: bytes = b"",
    http_version: str = "1.1",
    scope_type: str = "http",
) -> Scope:
    return {
        "type": scope_type,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": http_version,
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query_string,
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def body_messages(body: bytes, chunk_size: int) -> list[Message]:
    """``body`` as ``http.request`` messages of ``chunk_size`` bytes, as a server sends it."""
    chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)] or [b""]
    return [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]


class ScriptedReceive:
    """The server's ``receive``: the scripted messages in order, then ORIGINAL_END.

    ``calls`` counts every call, so a test proves the middleware did not read.
    """

    def __init__(self, messages: Iterable[Message] = ()) -> None:
        self._messages = deque(messages)
        self.calls = 0

    async def __call__(self) -> Message:
        self.calls += 1
        if self._messages:
            return self._messages.popleft()
        return dict(ORIGINAL_END)


class SendRecorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def types(self) -> list[str]:
        return [message["type"] for message in self.messages]

    def header(self, name: bytes) -> list[bytes]:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return [value for key, value in start.get("headers", ()) if key.lower() == name]


class BodyReadingApp:
    """A raw ASGI app that reads the whole body (as frameworks do), records every
    message and the session it ran under, then answers 200."""

    def __init__(self, *, read_body: bool = True, reads_after_body: int = 0) -> None:
        self.read_body = read_body
        self.reads_after_body = reads_after_body
        self.received: list[Message] = []
        self.ids: Ids | None = None
        self.scope: Scope | None = None

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.received if m["type"] == "http.request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.ids = current_ids()
        if self.read_body:
            while True:
                message = await receive()
                self.received.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
            for _ in range(self.reads_after_body):
                self.received.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


# -- a real uvicorn server and clients for it ------------------------------------------


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client: httpx otherwise builds one per client, which
    costs ~60 ms each (and the servers here are plain-HTTP loopback anyway)."""
    return ssl.create_default_context()


def async_client(base_url: str, **options: Any) -> httpx.AsyncClient:
    options.setdefault("timeout", 10)
    return httpx.AsyncClient(base_url=base_url, verify=_tls(), **options)


def sync_client(base_url: str, **options: Any) -> httpx.Client:
    options.setdefault("timeout", 10)
    return httpx.Client(base_url=base_url, verify=_tls(), **options)


def free_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto
    # says TCP, and without it every response waits ~40 ms on a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class Swappable:
    """An ASGI app that forwards to ``target``: one server for many tests' apps."""

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self.target
        if target is None:  # between tests: nothing is served
            if scope["type"] == "http":
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b""})
            return
        await target(scope, receive, send)


@contextmanager
def serve(
    app: Any, *, http: HTTPImpl = "h11", lifespan: Lifespan = "off", **options: Any
) -> Iterator[str]:
    """Run ``app`` on uvicorn at 127.0.0.1 (OS-assigned port) in a background
    thread; yield its base URL; stop it (bounded) on exit."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=http,
        ws="websockets-sansio",
        lifespan=lifespan,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=10)
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
