"""Memory: however large the upload, the middleware holds at most max_body_size
of it, and never pulls more than that before the app starts.

A 20 MB body streams in 64 KB pieces generated on demand (nothing holds the
whole body) with max_body_size = 1 MiB. Two probes: the bytes pulled from the
server before the app runs (counted at the source), and the traced peak memory
of the whole request compared with the same request without the middleware.
The app still reads all 20 MB, byte-identical.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _hostile import RawRequest, run_coroutine

from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware

LIMIT = 1024 * 1024
PIECE = 64 * 1024
TOTAL = 20 * 1024 * 1024
OPTIONS: dict[str, Any] = {"body_mapping": {"session_id": "session_id"}, "max_body_size": LIMIT}
SLACK = 256 * 1024  # interpreter noise: frames, dicts, the hash objects


def piece(index: int) -> bytes:
    """A fresh 64 KB object per call, different per index (so no sharing)."""
    return index.to_bytes(4, "big") * (PIECE // 4)


def expected_digest() -> str:
    digest = hashlib.sha256()
    for i in range(TOTAL // PIECE):
        digest.update(piece(i))
    return digest.hexdigest()


DIGEST = expected_digest()


def traced_peak(run: Callable[[], None]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


# -- ASGI -------------------------------------------------------------------------------


class Upload:
    """An ASGI receive() streaming TOTAL bytes in PIECE messages, made on demand."""

    def __init__(self) -> None:
        self.sent = 0
        self.index = 0

    async def __call__(self) -> dict[str, Any]:
        if self.sent >= TOTAL:
            return {"type": "http.disconnect"}
        body = piece(self.index)
        self.index += 1
        self.sent += len(body)
        return {"type": "http.request", "body": body, "more_body": self.sent < TOTAL}


def asgi_request(declared: bool) -> RawRequest:
    length = (b"content-length", str(TOTAL).encode()) if declared else None
    headers = [(b"content-type", b"application/json"), length or (b"transfer-encoding", b"chunked")]
    return RawRequest(method="POST", headers=tuple(headers))


def run_asgi_upload(wrap: bool, declared: bool) -> tuple[int, str, int]:
    """(bytes pulled before the app started, digest the app read, bytes it read)."""
    upload = Upload()
    pulled_before_app: list[int] = []
    digest = hashlib.sha256()
    read = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal read
        pulled_before_app.append(upload.sent)
        while True:
            message = await receive()
            body = message.get("body", b"")
            digest.update(body)
            read += len(body)
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Any) -> None:
        pass

    target: Any = GenAISessionMiddleware(app, **OPTIONS) if wrap else app
    run_coroutine(target(asgi_request(declared).scope(), upload, send))
    return pulled_before_app[0], digest.hexdigest(), read


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_asgi_pulls_at_most_the_limit_before_the_app(declared: bool) -> None:
    pulled, digest, read = run_asgi_upload(wrap=True, declared=declared)
    if declared:
        assert pulled == 0  # Content-Length over the limit: not a byte read
    else:
        assert LIMIT < pulled <= LIMIT + PIECE  # just enough to prove it too large
    assert (digest, read) == (DIGEST, TOTAL)


def test_asgi_buffered_bytes_stay_under_the_limit() -> None:
    bare = traced_peak(lambda: run_asgi_upload(wrap=False, declared=False))
    wrapped = traced_peak(lambda: run_asgi_upload(wrap=True, declared=False))
    assert wrapped - bare <= LIMIT + 2 * PIECE + SLACK, (bare, wrapped)


# -- WSGI -------------------------------------------------------------------------------


class LazyInput:
    """A wsgi.input producing TOTAL bytes on demand, at most PIECE per read (as
    a socket does). ``reach`` is the furthest any read could have gone: bytes
    returned so far plus the size asked for."""

    def __init__(self) -> None:
        self.returned = 0
        self.reach = 0
        self.index = 0
        self._pending = b""

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("nobody may read a 20 MB body whole")
        self.reach = max(self.reach, self.returned + size)
        if not self._pending:
            if self.index * PIECE >= TOTAL:
                return b""
            self._pending = piece(self.index)
            self.index += 1
        data, self._pending = self._pending[:size], self._pending[size:]
        self.returned += len(data)
        return data


def run_wsgi_upload(wrap: bool, declared: bool) -> tuple[int, str, int]:
    stream = LazyInput()
    reach_before_app: list[int] = []
    digest = hashlib.sha256()
    read = 0

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        nonlocal read
        reach_before_app.append(stream.reach)
        while chunk := environ["wsgi.input"].read(PIECE):
            digest.update(chunk)
            read += len(chunk)
        start_response("204 No Content", [])
        return iter([])

    environ = asgi_request(declared).environ()
    environ["wsgi.input"] = stream
    target: Any = SessionWSGIMiddleware(app, **OPTIONS) if wrap else app
    result = target(environ, lambda status, headers, exc_info=None: None)
    for _ in result:
        pass
    getattr(result, "close", lambda: None)()
    return reach_before_app[0], digest.hexdigest(), read


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_wsgi_reads_at_most_limit_plus_one_before_the_app(declared: bool) -> None:
    """No read before the app could take the stream past max_body_size + 1."""
    reach, digest, read = run_wsgi_upload(wrap=True, declared=declared)
    assert reach == (0 if declared else LIMIT + 1)
    assert (digest, read) == (DIGEST, TOTAL)


def test_wsgi_buffered_bytes_stay_under_twice_the_limit() -> None:
    """The buffered pieces are joined once (a transient second copy), so the
    peak is bounded by two limits; what stays buffered is one limit."""
    bare = traced_peak(lambda: run_wsgi_upload(wrap=False, declared=False))
    wrapped = traced_peak(lambda: run_wsgi_upload(wrap=True, declared=False))
    assert wrapped - bare <= 2 * (LIMIT + 1) + SLACK, (bare, wrapped)


class _Pieces:
    """A ``wsgi.input`` that returns at most one 64 KB piece per read."""

    def __init__(self, total: int) -> None:
        self._left = total
        self._index = 0

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        chunk = piece(self._index)[: min(PIECE, self._left, size if size >= 0 else PIECE)]
        self._index += 1
        self._left -= len(chunk)
        return chunk


def test_wsgi_buffering_holds_a_body_once_not_twice() -> None:
    """A body read in many pieces is gathered into one buffer, never a list of
    pieces plus a joined copy (which held it twice at the end of the read)."""
    from otel_genai_session.middleware._wsgi_body import buffer_input

    environ: dict[str, Any] = {"wsgi.input": _Pieces(LIMIT)}
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        body = buffer_input(environ, LIMIT + 1, declared=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body is not None and len(body) == LIMIT
    assert peak <= 1.3 * LIMIT + SLACK, f"peak {peak} for a {LIMIT}-byte body"
    assert environ["wsgi.input"].read() == b"".join(piece(i) for i in range(LIMIT // PIECE))
