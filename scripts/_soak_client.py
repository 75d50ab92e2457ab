"""The client side of scripts/soak.py: raw HTTP/1.1 and HTTP/2 connections and the load.

httpx's connection pool costs grow with the pool size, so with a thousand
connections the client, not the server, was the bottleneck; raw asyncio
streams keep the client cheap. HTTP/2 (to hypercorn, prior knowledge) uses
the ``h2`` state machine, one request in flight per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from _soak_apps import STREAM_CHUNKS

Headers = list[tuple[str, str]]

HOSTILE_KINDS = ("repeated-headers", "small-pieces", "huge-cookie", "huge-query", "bad-baggage")


@dataclass(frozen=True)
class Limits:
    """What a server accepts: hostile requests stay within it (else bare and ours
    would both get the server's 400 and measure nothing of ours)."""

    header_lines: int
    line_size: int
    pieces: int
    cookie_size: int
    query_size: int


LIMITS = {
    "uvicorn": Limits(header_lines=5000, line_size=100, pieces=4000, cookie_size=16000, query_size=16000),  # fmt: skip
    "hypercorn": Limits(header_lines=400, line_size=100, pieces=4000, cookie_size=16000, query_size=16000),  # fmt: skip
    "gunicorn": Limits(header_lines=90, line_size=8000, pieces=4000, cookie_size=8000, query_size=3500),  # fmt: skip
    "werkzeug": Limits(header_lines=90, line_size=8000, pieces=4000, cookie_size=8000, query_size=3500),  # fmt: skip
}


class Load:
    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.crosstalk = 0
        self.streamed = 0
        self.hostile = 0
        self.examples: list[str] = []

    def note(self, detail: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(detail)


class Http1:
    """A minimal HTTP/1.1 keep-alive client on one loopback connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, target: str, headers: Headers, pieces: list[bytes]
    ) -> tuple[int, bytes]:
        """``pieces``: the body; more than one is sent chunked, one chunk each."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers]
        if len(pieces) > 1:
            lines.append("Transfer-Encoding: chunked")
            body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"
        else:
            body = pieces[0] if pieces else b""
            if body:
                lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return await self._response()

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        status = int((await self.reader.readline()).split()[1])
        length, chunked, close = 0, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = value == "close"
        if chunked:
            parts = []
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readexactly(2)
            data = b"".join(parts)
        else:
            data = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, data


class Http2:
    """HTTP/2 with prior knowledge over one loopback connection, a stream at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connection: Any = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = self.connection = None

    async def request(
        self, method: str, target: str, headers: Headers, pieces: list[bytes]
    ) -> tuple[int, bytes]:
        """``pieces``: one DATA frame each (empty ones included)."""
        import h2.config
        import h2.connection

        if self.connection is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.connection = h2.connection.H2Connection(h2.config.H2Configuration())
            self.connection.initiate_connection()
        stream = self.connection.get_next_available_stream_id()
        request = [(":method", method), (":path", target), (":scheme", "http"),
                   (":authority", "127.0.0.1"), *((k.lower(), v) for k, v in headers)]  # fmt: skip
        self.connection.send_headers(stream, request, end_stream=not pieces)
        for i, piece in enumerate(pieces):
            self.connection.send_data(stream, piece, end_stream=i == len(pieces) - 1)
        return await self._response(stream)

    async def _response(self, stream: int) -> tuple[int, bytes]:
        import h2.events

        assert self.reader is not None and self.writer is not None
        status, body = 0, bytearray()
        while True:
            self.writer.write(self.connection.data_to_send())
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("the server closed the HTTP/2 connection")
            for event in self.connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                    body += event.data
                    self.connection.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                    self.writer.write(self.connection.data_to_send())
                    return status, bytes(body)


def hostile_request(kind: str, limits: Limits, n: int, variant: str) -> tuple[str, str, Headers, list[bytes]]:  # fmt: skip
    """(method, target, headers, body pieces) of a hostile request of ``kind``."""
    target = f"/{variant}/any"
    headers: Headers = [("X-Soak-Kind", kind)]
    pieces: list[bytes] = []
    if kind == "repeated-headers":
        value = f"s-{n:08d}-".ljust(limits.line_size, "r")
        headers += [("X-Session-ID", value)] * limits.header_lines
    elif kind == "small-pieces":  # empty DATA frames on HTTP/2, 1-byte chunks on HTTP/1.1
        headers.append(("Content-Type", "application/json"))
        pieces = [b"" if limits is LIMITS["hypercorn"] else b" "] * limits.pieces
        pieces.append(b'{"tenant": "t-%d"}' % n)
        return "POST", target, headers, pieces
    elif kind == "huge-cookie":
        headers.append(("Cookie", f"uid=u-{n};pad={'c' * limits.cookie_size}"))
    elif kind == "huge-query":
        target += f"?tenant=t-{n}&pad={'q' * limits.query_size}"
    else:  # bad-baggage: control bytes, and more members than W3C allows
        members = [f"k{i}=v" for i in range(200)]
        headers.append(("baggage", f"session.id=\x1b[31mEVIL{n}\x1b[0m,junk,{','.join(members)}"))
    return "GET", target, headers, pieces


async def worker(make: Any, name: str, deadline: float, load: Load, limits: Limits) -> None:
    """One connection, one request in flight: normal requests (checked for
    cross-talk) to ``/ours``; hostile and plain ones to ``/ours`` and ``/bare``."""
    connection = make()
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            try:
                await asyncio.wait_for(one_request(connection, name, n, load, limits), 30)
            except Exception as error:  # counted, never hidden
                load.failed += 1
                load.note(f"request error: {error!r}")
                await connection.close()
    finally:
        await connection.close()


async def one_request(connection: Any, name: str, n: int, load: Load, limits: Limits) -> None:
    variant = "ours" if n % 4 < 2 else "bare"
    if n % 10 in (3, 7):
        kind = HOSTILE_KINDS[(n // 10) % len(HOSTILE_KINDS)]
        status, _ = await connection.request(*hostile_request(kind, limits, n, variant))
        load.hostile += 1
        expected_ok = status == 200
    elif n % 10 == 5:
        status, _ = await connection.request("GET", f"/{variant}/any", [("X-Soak-Kind", "plain")], [])
        expected_ok = status == 200
    else:
        expected_ok = await normal_request(connection, name, n, load)
    if expected_ok:
        load.ok += 1
    else:
        load.failed += 1


async def normal_request(connection: Any, name: str, n: int, load: Load) -> bool:
    ids = [f"s-{name}-{n}", f"u-{name}-{n}", f"t-{name}-{n}"]
    headers: Headers = [("X-Session-ID", ids[0]), ("Cookie", f"uid={ids[1]}")]
    if n % 5 == 0:
        kind, request = "stream", ("GET", f"/ours/stream?tenant={ids[2]}", headers, [])
    elif n % 2 == 0:
        kind, request = "sync", ("GET", f"/ours/sync?tenant={ids[2]}", headers, [])
    else:
        body = json.dumps({"tenant": ids[2], "prompt": "x" * (n % 2048)}).encode()
        headers = [*headers, ("Content-Type", "application/json")]
        kind, request = "chat", ("POST", "/ours/chat", headers, [body])
    status, data = await connection.request(*request)
    if status != 200:
        return False
    lines = [json.loads(line) for line in data.splitlines() if line]
    if kind == "stream":
        if len(lines) != STREAM_CHUNKS:
            return False
        load.streamed += 1
    for line in lines:
        if line != ids:
            load.crosstalk += 1
            load.note(f"{kind}: sent {ids} got {line}")
    return True


async def drive(port: int, server: str, concurrency: int, seconds: float) -> Load:
    load = Load()
    deadline = time.monotonic() + seconds
    protocol = Http2 if server == "hypercorn" else Http1
    limits = LIMITS[server]
    await asyncio.gather(
        *(worker(lambda: protocol(port), f"w{i}", deadline, load, limits) for i in range(concurrency))
    )
    return load
