"""Two real services on 127.0.0.1: an ASGI front (uvicorn) calling a WSGI back (werkzeug)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from werkzeug.serving import BaseWSGIServer, make_server


class UvicornThread:
    """A uvicorn server in a background thread, started and stopped in bounded time.

    It serves on a socket bound here (an OS-assigned port) and handed over
    already bound, so no other process can take the port in between.
    """

    def __init__(self, app: Any) -> None:
        # proto IPPROTO_TCP, or asyncio skips TCP_NODELAY (40 ms delayed-ACK stalls)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 10 s")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class WerkzeugThread:
    """A threaded werkzeug WSGI server in a background thread."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WerkzeugThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def serve_asgi() -> Iterator[Callable[[Any], UvicornThread]]:
    started: list[UvicornThread] = []

    def start(app: Any) -> UvicornThread:
        server = UvicornThread(app).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


@pytest.fixture
def serve_wsgi() -> Iterator[Callable[[Callable[..., Any]], WerkzeugThread]]:
    started: list[WerkzeugThread] = []

    def start(app: Callable[..., Any]) -> WerkzeugThread:
        server = WerkzeugThread(app).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()
