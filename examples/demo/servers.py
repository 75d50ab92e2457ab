"""uvicorn on 127.0.0.1, on a port the OS picks, in a daemon thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["BackgroundServer"]

STARTUP_TIMEOUT = 15.0  # seconds; a server is usually up in well under one


class BackgroundServer:
    """Serve ``app`` for the ``with`` block; the socket is bound before uvicorn
    starts and handed to it, so no other process can take the port meanwhile."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server for {self.url} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True  # graceful: in-flight requests finish first
        self.thread.join(timeout=STARTUP_TIMEOUT)
        self.socket.close()
