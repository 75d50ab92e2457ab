"""Real servers on 127.0.0.1: uvicorn in a thread, on a socket bound before it starts.

The socket is bound here (port 0: the OS picks a free one) and handed to
uvicorn, so no other process can take the port between choosing and serving.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

__all__ = ["running_uvicorn"]

STARTUP_TIMEOUT = 10.0  # seconds


@contextmanager
def running_uvicorn(app: Any) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL."""
    # IPPROTO_TCP, or asyncio skips TCP_NODELAY (40 ms delayed-ACK stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, lifespan="off", loop="asyncio", http="h11", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        sock.close()
