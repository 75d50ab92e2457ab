"""Both middlewares under the servers people deploy, over real keep-alive sockets.

Each cell starts one server subprocess (module scope: once for all its tests)
and runs the shared scenario, the keep-alive leak probe (pitfall 4), the
app-leak / thread-reuse probe (pitfall 45) and a small concurrency probe
against it. Django runs here too, as its settings are process-global.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from .clients import reply_of, send
from .scenario import CHAT_BODY, NO_SESSION, STEPS, Reply, Step, leak_probe_body
from .servers import UVICORN_ON_FD, WAITRESS_ON_FD, Server, running

pytestmark = pytest.mark.servers

ASGI_APP = "ecosystem.apps.server_asgi:app"
WSGI_APP = "ecosystem.apps.server_wsgi:app"
HOST = ["--host", "127.0.0.1", "--port", "{port}"]  # Granian: it cannot take a socket


@dataclass(frozen=True)
class Cell:
    id: str
    row: str
    """The row of the compatibility table (docs/compatibility.md)."""
    argv: tuple[str, ...]
    requires: tuple[str, ...]
    keep_alive: bool = True
    """The server keeps HTTP/1.1 connections open (gunicorn's sync worker does not)."""
    one_thread: bool = True
    """All requests run on one OS thread, so the thread-reuse probe proves reuse."""


def _uvicorn(app: str, http: str) -> tuple[str, ...]:
    return ("-c", UVICORN_ON_FD, app, "{fd}", http)


def _gunicorn(worker: str, *extra: str) -> tuple[str, ...]:
    return ("-m", "gunicorn", "-w", "1", "-k", worker, *extra, "-b", "fd://{fd}", WSGI_APP)


def _waitress(app: str) -> tuple[str, ...]:
    return ("-c", WAITRESS_ON_FD, app, "{fd}", "1")


def _granian(interface: str, app: str, *extra: str) -> tuple[str, ...]:
    return ("-m", "granian", "--interface", interface, *HOST, "--workers", "1", *extra, app)


CELLS = [
    Cell("uvicorn-h11", "uvicorn (h11)", _uvicorn(ASGI_APP, "h11"), ("uvicorn", "h11")),
    Cell(
        "uvicorn-httptools",
        "uvicorn (httptools)",
        _uvicorn(ASGI_APP, "httptools"),
        ("uvicorn", "httptools"),
    ),
    Cell(
        "hypercorn",
        "Hypercorn",
        ("-m", "hypercorn", ASGI_APP, "--bind", "fd://{fd}", "--workers", "1"),
        ("hypercorn",),
    ),
    Cell("granian-asgi", "Granian (ASGI)", _granian("asgi", ASGI_APP), ("granian",)),
    Cell(
        "granian-asgi-rust-tasks",
        "Granian (ASGI, Rust tasks)",
        _granian("asgi", ASGI_APP, "--task-impl", "rust"),
        ("granian",),
    ),
    Cell("gunicorn-sync", "gunicorn (sync)", _gunicorn("sync"), ("gunicorn",), keep_alive=False),
    Cell(
        "gunicorn-gthread",
        "gunicorn (gthread)",
        _gunicorn("gthread", "--threads", "1"),
        ("gunicorn",),
    ),
    Cell(
        "gunicorn-gevent",
        "gunicorn (gevent)",
        _gunicorn("gevent"),
        ("gunicorn", "gevent"),
        one_thread=False,
    ),
    Cell("waitress", "waitress", _waitress(WSGI_APP), ("waitress",)),
    Cell(
        "granian-wsgi",
        "Granian (WSGI)",
        _granian("wsgi", WSGI_APP, "--blocking-threads", "1"),
        ("granian",),
    ),
    Cell(
        "django-asgi-uvicorn",
        "Django (ASGI, uvicorn)",
        _uvicorn("ecosystem.apps.django_app:asgi", "h11"),
        ("django", "uvicorn"),
        one_thread=False,  # sync views run in asgiref's thread pool
    ),
    Cell(
        "django-wsgi-waitress",
        "Django (WSGI, waitress)",
        _waitress("ecosystem.apps.django_app:wsgi"),
        ("django", "waitress"),
    ),
]


def _skip_reason(cell: Cell) -> str | None:
    missing = [name for name in cell.requires if importlib.util.find_spec(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (pip install 'otel-genai-session[ecosystem]')"
    if cell.id.startswith("gunicorn") and sys.platform == "win32":  # pragma: no cover
        return "gunicorn does not run on Windows"
    return None


@pytest.fixture(
    scope="module",
    params=[pytest.param(cell, id=cell.id, marks=pytest.mark.compat(cell.row)) for cell in CELLS],
)
def cell(request: pytest.FixtureRequest) -> Cell:
    cell: Cell = request.param
    reason = _skip_reason(cell)
    if reason:
        pytest.skip(reason)
    return cell


@pytest.fixture(scope="module")
def server(cell: Cell, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(cell.argv, tmp_path_factory.mktemp(cell.id)) as server:
        yield server


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    """One keep-alive connection: every request of a test goes over the same socket
    (unless the server closes it)."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=server.base_url, limits=limits, timeout=10) as client:
        yield client


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.id)
def test_scenario(step: Step, server: Server, client: httpx.Client) -> None:
    reply = send(client, step)
    step.check(reply, server.spans(step.id, step.spans))


def _post(client: httpx.Client, path: str, tag: str, body: bytes, **headers: str) -> Reply:
    headers = {"X-Test-Tag": tag, "Content-Type": "application/json", **headers}
    return reply_of(client.post(path, content=body, headers=headers))


def _plain(client: httpx.Client, tag: str, **headers: str) -> Reply:
    return reply_of(client.get("/plain", headers={"X-Test-Tag": tag, **headers}))


def test_keep_alive_leak(cell: Cell, server: Server, client: httpx.Client) -> None:
    """Pitfall 4: request A with ids and a 70 KB body, then B without any on the
    same connection: B has no ids, in the app and on its span."""
    first = _post(client, "/chat", "ka-a", leak_probe_body(), **{"X-Session-ID": "ka-A"})
    second = _plain(client, "ka-b")
    assert first.status == 200, first.body[:300]
    assert first.json()["session"] == {
        **NO_SESSION,
        "session_id": "ka-A",
        "customer_id": "cust-body",
    }
    assert second.json()["session"] == NO_SESSION
    if cell.keep_alive:
        assert first.json()["peer"] == second.json()["peer"], "not the same connection"
    assert [span.session() for span in server.spans("ka-a", 1)] == [
        {"session.id": "ka-A", "customer.id": "cust-body"}
    ]
    assert [span.session() for span in server.spans("ka-b", 1)] == [{}]


def test_app_leak_and_thread_reuse(cell: Cell, server: Server, client: httpx.Client) -> None:
    """Pitfall 45: the app sets a session and never clears it; the next request,
    on the same worker thread, starts clean."""
    first = _post(client, "/leak", "tr-a", b"{}", **{"X-Session-ID": "tr-A"})
    second = _plain(client, "tr-b")
    assert first.json()["session"]["session_id"] == "leaked-by-app"
    assert second.json()["session"] == NO_SESSION
    assert first.json()["pid"] == second.json()["pid"]
    if cell.one_thread:
        assert first.json()["thread"] == second.json()["thread"], "not the same thread"
    assert [span.session() for span in server.spans("tr-b", 1)] == [{}]


def test_concurrent_requests_keep_their_own_ids(server: Server) -> None:
    """16 requests at once, each with its own session id: no foreign id anywhere."""
    count = 16

    def one(index: int) -> dict[str, object]:
        with httpx.Client(base_url=server.base_url, timeout=20) as client:
            response = client.post(
                "/chat",
                content=json.dumps({"metadata": {"customer": f"cust-{index}"}}),
                headers={
                    "X-Test-Tag": f"c-{index}",
                    "X-Session-ID": f"sess-{index}",
                    "Content-Type": "application/json",
                },
            )
        return dict(response.json()["session"])

    with ThreadPoolExecutor(max_workers=count) as pool:
        sessions = list(pool.map(one, range(count)))
    assert sessions == [
        {"session_id": f"sess-{i}", "user_id": None, "customer_id": f"cust-{i}"}
        for i in range(count)
    ]
    for index in range(count):
        assert [span.session() for span in server.spans(f"c-{index}", 1)] == [
            {"session.id": f"sess-{index}", "customer.id": f"cust-{index}"}
        ]


def test_chat_body_reaches_the_app(server: Server, client: httpx.Client) -> None:
    """The app reads the same bytes the middleware looked into (Content-Length path)."""
    reply = _post(client, "/chat", "body", json.dumps(CHAT_BODY).encode())
    assert reply.json()["echo"] == CHAT_BODY


FORBIDDEN_IN_LOG = (
    "different Context",  # ContextVar.reset from a foreign context (pitfall 7, 46)
    "Failed to detach context",  # OpenTelemetry's detach error (contrib#3937)
    "otel_genai_session",  # any warning or error our package logged
    "Dropped ",  # our validation warnings print without a logger name
)


def test_server_log_is_clean(server: Server) -> None:
    """Runs last for each cell: after all the above, the server logged nothing of
    ours and no context error; the only traceback is the scenario's own error."""
    log = server.log_path.read_text(errors="replace")
    # A traceback's frames name our files (the scenario's error passes through us).
    ours = "\n".join(line for line in log.splitlines() if not line.lstrip().startswith('File "'))
    for needle in FORBIDDEN_IN_LOG:
        assert needle not in ours, server.log()
    tracebacks = log.count("Traceback (most recent call last)")
    assert tracebacks == log.count("RuntimeError: scenario error"), server.log()
