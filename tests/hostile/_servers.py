"""Real servers on 127.0.0.1 (OS-assigned port), each in a thread, stopped on exit.

Used by test_hostile_servers.py and test_hostile_cost.py; scripts/soak.py has its
own subprocess servers so that their memory can be measured apart from the client's.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from werkzeug.serving import make_server


@contextmanager
def running_uvicorn(app: Any, http: str = "h11") -> Iterator[int]:
    # proto IPPROTO_TCP, or asyncio skips TCP_NODELAY (40 ms delayed-ACK stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, lifespan="off", loop="asyncio", http=http, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def running_werkzeug(app: Any) -> Iterator[int]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def raw_exchange(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, read the whole response (the server closes: Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def read_then_vanish(port: int, request: bytes, at_least: int, timeout: float = 10) -> int:
    """Send a request, read ``at_least`` bytes of the response, then reset the
    connection (SO_LINGER 0: RST, not FIN), as a client that crashed would."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(request)
        received = 0
        deadline = time.monotonic() + timeout
        while received < at_least and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += len(chunk)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return received
    finally:
        sock.close()


@contextmanager
def running_hypercorn(app: Any) -> Iterator[int]:
    """Hypercorn (HTTP/1.1, and HTTP/2 with prior knowledge) in a thread, on a
    socket bound and listening before it starts: it gets its own duplicate."""
    import asyncio
    import os

    import pytest

    pytest.importorskip("hypercorn")  # not in the test extra (tox env "oldest")
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue up until hypercorn accepts them
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.accesslog = config.errorlog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
        sock.close()


def h2_post(
    port: int, path: str, headers: list[tuple[str, str]], pieces: list[bytes], timeout: float = 30
) -> tuple[int, bytes]:
    """One HTTP/2 (prior knowledge) POST whose body is sent as ``pieces``, one
    DATA frame each (empty ones included), then an empty frame ending the stream.
    Returns the response status and body."""
    import h2.config
    import h2.connection
    import h2.events

    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    request_headers = [
        (":method", "POST"),
        (":path", path),
        (":scheme", "http"),
        (":authority", "127.0.0.1"),
        *headers,
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        connection.send_headers(1, request_headers)
        for piece in pieces:
            connection.send_data(1, piece)
        connection.send_data(1, b"", end_stream=True)
        sock.sendall(connection.data_to_send())
        status, body = 0, bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    connection.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded):
                    return status, bytes(body)
            sock.sendall(connection.data_to_send())
    raise AssertionError("no complete HTTP/2 response")
