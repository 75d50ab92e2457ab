"""Fixtures for the WSGI middleware tests: real servers on loopback, a clean log registry."""

from __future__ import annotations

import concurrent.futures
import socket
import threading
import wsgiref.simple_server
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from otel_genai_session import _validation

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

Serve = Callable[..., str]
"""``serve(app, threaded=True) -> base URL`` of a real server running ``app``."""


class _QuietWerkzeugHandler(WSGIRequestHandler):
    """No access log: the load test sends thousands of requests."""

    def log(self, type: str, message: str, *args: Any) -> None:
        return None


class _QuietWsgirefHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class _PooledWSGIServer(BaseWSGIServer):
    """werkzeug's server with a fixed pool of worker threads (gunicorn's gthread
    model): each worker thread serves many connections, one after the other."""

    multithread = True

    def __init__(self, app: WSGIApplication, handler: type[WSGIRequestHandler], workers: int):
        super().__init__("127.0.0.1", 0, app, handler)
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, "wsgi-worker")

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self._serve_connection, request, client_address)

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _run_in_thread(server: Any, shutdown: Callable[[], None]) -> Callable[[], None]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()

    def stop() -> None:
        shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the server thread did not stop"

    return stop


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start werkzeug's development server on 127.0.0.1 with an OS-assigned port.

    ``threaded=True`` (the default here) serves each connection in a new
    thread (HTTP/1.1; werkzeug closes the connection after a response without
    Content-Length); ``threaded=False`` serves every request on one thread, one
    after the other (a single-thread worker); ``workers=N`` serves connections
    on a fixed pool of N reused threads.
    """
    stops: list[Callable[[], None]] = []

    def start(app: WSGIApplication, *, threaded: bool = True, workers: int | None = None) -> str:
        # A fresh handler class per server: werkzeug sets protocol_version on it.
        handler = type("Handler", (_QuietWerkzeugHandler,), {"timeout": 10})
        server: BaseWSGIServer
        if workers is not None:
            server = _PooledWSGIServer(app, handler, workers)
        else:
            server = make_server("127.0.0.1", 0, app, threaded=threaded, request_handler=handler)
        stops.append(_run_in_thread(server, server.shutdown))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for stop in reversed(stops):
        stop()


@pytest.fixture
def serve_wsgiref() -> Iterator[Serve]:
    """Start the stdlib's wsgiref server (single thread; provides wsgi.file_wrapper)."""
    stops: list[Callable[[], None]] = []

    def start(app: WSGIApplication) -> str:
        server = wsgiref.simple_server.make_server(
            "127.0.0.1", 0, app, handler_class=_QuietWsgirefHandler
        )
        stops.append(_run_in_thread(server, server.shutdown))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for stop in reversed(stops):
        stop()


@pytest.fixture
def tracer(tracer_provider: TracerProvider) -> Tracer:
    """The tracer views use to create their spans (through the session processor)."""
    return tracer_provider.get_tracer("t")


@pytest.fixture
def fresh_warnings() -> Iterator[None]:
    """Forget which drop causes were already logged, so each test sees its warnings."""
    _validation._reported.clear()
    yield
    _validation._reported.clear()
