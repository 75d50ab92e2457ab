"""Real servers on 127.0.0.1 (OS-assigned port), each in a thread, stopped on exit.

Used by test_hostile_servers.py; scripts/soak.py has its own subprocess servers
so that their memory can be measured apart from the client's.
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
