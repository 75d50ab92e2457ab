"""Run an app under a real server in a subprocess, on 127.0.0.1 and a free port.

The port is never picked by bind-then-close (another process could take it in
between): this process binds a socket to an OS-assigned port and the server
inherits it, ``{fd}`` in its argv standing for the descriptor; the server
listens on it. A server that cannot take a socket (Granian) gets ``{port}``
instead and binds beside our socket, which holds the port (``SO_REUSEPORT``,
never listening) for the server's whole life.

The app exports its spans as JSON lines to a file (``apps/tracing.py``); the
test reads the ones tagged for its request. Every wait is bounded: startup is
polled for at most :data:`STARTUP_TIMEOUT` seconds, span files for at most
:data:`SPANS_TIMEOUT`, and the whole process group is ended at teardown.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from otel_genai_session.environment_variables import (
    OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID,
    OTEL_INSTRUMENTATION_GENAI_SESSION_ID,
    OTEL_INSTRUMENTATION_GENAI_USER_ID,
)

from .apps.common import TAG_ATTRIBUTE
from .apps.tracing import SPANS_FILE_VARIABLE
from .scenario import SpanRecord

TESTS_DIR: Final = Path(__file__).resolve().parent.parent
"""On the server's PYTHONPATH, so it imports the apps as ``ecosystem.apps.*``."""
STARTUP_TIMEOUT: Final = 15.0
SPANS_TIMEOUT: Final = 5.0
STOP_TIMEOUT: Final = 10.0
POLL_INTERVAL: Final = 0.05


UVICORN_ON_FD: Final = (
    "import socket, sys, uvicorn; app, fd, http = sys.argv[1:4]; "
    "config = uvicorn.Config(app, http=http, loop='asyncio', access_log=False); "
    "uvicorn.Server(config).run(sockets=[socket.socket(fileno=int(fd))])"
)
"""``python -c`` program: uvicorn on an inherited socket (argv: app, fd, http).
Not ``uvicorn --fd``: it takes the socket for a Unix one, so asyncio would skip
TCP_NODELAY and keep-alive replies would stall on delayed ACKs."""

WAITRESS_ON_FD: Final = (
    "import pkgutil, socket, sys, waitress; app, fd, threads = sys.argv[1:4]; "
    "waitress.serve(pkgutil.resolve_name(app), threads=int(threads), "
    "sockets=[socket.socket(fileno=int(fd))])"
)
"""``python -c`` program: waitress on an inherited socket (argv: app, fd, threads);
``waitress-serve`` has no option for one."""


@contextmanager
def _bound_socket() -> Iterator[socket.socket]:
    """A TCP socket bound to an OS-assigned port of 127.0.0.1, not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):  # lets a server that takes only a port bind beside
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        yield sock
    finally:
        sock.close()


@dataclass(frozen=True)
class Server:
    base_url: str
    spans_path: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def all_spans(self) -> list[SpanRecord]:
        if not self.spans_path.exists():
            return []
        records = []
        for line in self.spans_path.read_text(encoding="utf-8").splitlines():
            if line.endswith("}"):  # a line still being written is skipped
                document = json.loads(line)
                records.append(
                    SpanRecord(document["name"], document["attributes"], document["kind"])
                )
        return records

    def spans(self, tag: str, count: int) -> list[SpanRecord]:
        """The spans tagged ``tag``, once ``count`` of them have been exported."""
        return self.spans_where(lambda span: span.attributes.get(TAG_ATTRIBUTE) == tag, count)

    def spans_where(self, keep: Callable[[SpanRecord], bool], count: int) -> list[SpanRecord]:
        """The spans ``keep`` accepts, once ``count`` of them have been exported
        (a server span ends after the reply is sent, so it can come late)."""
        deadline = time.monotonic() + SPANS_TIMEOUT
        while True:
            found = [span for span in self.all_spans() if keep(span)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(POLL_INTERVAL)


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(POLL_INTERVAL)
    raise RuntimeError(
        f"server not listening after {STARTUP_TIMEOUT}s:\n{log_path.read_text(errors='replace')}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the server's process group (workers included): TERM, then KILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)
    except ProcessLookupError:
        pass


@contextmanager
def running(
    argv: Sequence[str],
    directory: Path,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
) -> Iterator[Server]:
    """Start ``python argv...`` and yield it once it listens. In ``argv``,
    ``{fd}`` is the inherited socket the server must listen on, ``{port}`` its port.
    ``python`` is the test's own interpreter unless another environment's is given."""
    with _bound_socket() as sock, _started(argv, directory, env, sock, python) as server:
        yield server


@contextmanager
def _started(
    argv: Sequence[str],
    directory: Path,
    env: Mapping[str, str] | None,
    sock: socket.socket,
    python: str,
) -> Iterator[Server]:
    port, fd = int(sock.getsockname()[1]), sock.fileno()
    spans_path = directory / "spans.jsonl"
    log_path = directory / "server.log"
    child_env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    for name in (
        OTEL_INSTRUMENTATION_GENAI_SESSION_ID,
        OTEL_INSTRUMENTATION_GENAI_USER_ID,
        OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID,
    ):
        child_env.pop(name, None)
    child_env["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    child_env[SPANS_FILE_VARIABLE] = str(spans_path)
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env.update(env or {})
    command = [
        python,
        *(arg.replace("{fd}", str(fd)).replace("{port}", str(port)) for arg in argv),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=directory,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(fd,) if any("{fd}" in arg for arg in argv) else (),
        )
    try:
        _wait_for_port(process, port, log_path)
        yield Server(f"http://127.0.0.1:{port}", spans_path, log_path)
    finally:
        _stop(process)
