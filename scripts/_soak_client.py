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
COMPARED_KINDS = (*HOSTILE_KINDS, "plain")


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
    "uvicorn": Limits(5000, 100, pieces=4000, cookie_size=16000, query_size=16000),
    "hypercorn": Limits(400, 100, pieces=1000, cookie_size=16000, query_size=16000),
    # gunicorn's own limits: 100 header fields of 8190 bytes, a 4094-byte request line
    "gunicorn": Limits(90, 8000, pieces=4000, cookie_size=8000, query_size=3500),
    "werkzeug": Limits(90, 8000, pieces=4000, cookie_size=8000, query_size=3500),
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

    @classmethod
    def total(cls, loads: list[Load]) -> Load:
        total = cls()
        for load in loads:
            for name in ("ok", "failed", "crosstalk", "streamed", "hostile"):
                setattr(total, name, getattr(total, name) + getattr(load, name))
            total.examples += load.examples[: 5 - len(total.examples)]
        return total


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


def hostile_request(
    kind: str, limits: Limits, n: int, variant: str
) -> tuple[str, str, Headers, list[bytes]]:
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
    else:  # bad-baggage: escape sequences (percent-encoded: servers refuse raw control
        # bytes), a malformed member, one over 4096 bytes, more than W3C's 180
        members = ",".join(f"k{i}=v" for i in range(200))
        evil = f"session.id=%1B%5B31mEVIL{n}%1B%5B0m,junk,big={'b' * 5000}"
        headers.append(("baggage", f"{evil},{members}"))
    return "GET", target, headers, pieces


async def worker(
    make: Any, index: int, deadline: float, load: Load, limits: Limits, variant: str
) -> None:
    """One connection, one request in flight, all to ``/{variant}/``: one in
    five is a hostile or plain request (each kind in turn, staggered per
    worker), the others are normal ones, checked for cross-talk under ``ours``."""
    connection = make()
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            if n % 5 == 3:
                kind = COMPARED_KINDS[(n // 5 + index) % len(COMPARED_KINDS)]
                call = compared_request(connection, kind, variant, n, load, limits)
            elif variant == "ours":
                call = normal_request(connection, f"w{index}", n, load)
            else:
                call = control_request(connection, f"w{index}", n)
            try:
                ok = await asyncio.wait_for(call, 30)
            except Exception as error:  # counted, never hidden
                ok = False
                load.note(f"request error: {error!r}")
                await connection.close()
            if ok:
                load.ok += 1
            else:
                load.failed += 1
    finally:
        await connection.close()


async def compared_request(
    connection: Any, kind: str, variant: str, n: int, load: Load, limits: Limits, tag: str = ""
) -> bool:
    """A hostile or plain request; ``tag`` marks the kind in the server's timings."""
    if kind == "plain":
        request = ("GET", f"/{variant}/any", [("X-Soak-Kind", tag + kind)], [])
    else:
        method, target, headers, pieces = hostile_request(kind, limits, n, variant)
        request = (method, target, [("X-Soak-Kind", tag + kind), *headers[1:]], pieces)
        load.hostile += 1
    status, _ = await connection.request(*request)
    if status != 200:
        load.note(f"{kind} {variant}: status {status}")
    return bool(status == 200)


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
        load.note(f"{kind}: status {status}")
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


async def control_request(connection: Any, name: str, n: int) -> bool:
    """What a normal request sends, to the app without the middleware."""
    ids = [f"s-{name}-{n}", f"u-{name}-{n}", f"t-{name}-{n}"]
    headers: Headers = [
        ("X-Session-ID", ids[0]),
        ("Cookie", f"uid={ids[1]}"),
        ("Content-Type", "application/json"),
        ("X-Soak-Kind", "control"),
    ]
    body = json.dumps({"tenant": ids[2], "prompt": "x" * (n % 2048)}).encode()
    status, _ = await connection.request("POST", "/bare/any", headers, [body])
    return bool(status == 200)


def connection_class(server: str) -> Any:
    return Http2 if server == "hypercorn" else Http1


async def drive(port: int, server: str, concurrency: int, seconds: float, variant: str) -> Load:
    """``concurrency`` connections for ``seconds``, everything to ``/{variant}/``."""
    load = Load()
    deadline = time.monotonic() + seconds
    protocol, limits = connection_class(server), LIMITS[server]
    workers = [
        worker(lambda: protocol(port), i, deadline, load, limits, variant)
        for i in range(concurrency)
    ]
    await asyncio.gather(*workers)
    return load


async def compare_one_by_one(port: int, server: str, pairs: int) -> Load:
    """Each compared kind ``pairs`` times through ``/ours/`` and ``/bare/`` in
    turn, one request at a time: the server's timings with nothing queued."""
    load, limits = Load(), LIMITS[server]
    connection = connection_class(server)(port)
    try:
        for n in range(pairs):
            if n and n % 40 == 0:  # hypercorn ends a connection after 1,000 requests
                await connection.close()  # (keep_alive_max_requests); the next reconnects
            for kind in COMPARED_KINDS:
                for variant in ("ours", "bare") if n % 2 else ("bare", "ours"):
                    request = compared_request(connection, kind, variant, n, load, limits, "1by1 ")
                    ok = await asyncio.wait_for(request, 30)
                    load.ok, load.failed = load.ok + ok, load.failed + (not ok)
    finally:
        await connection.close()
    return load
