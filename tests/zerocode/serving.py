"""Start an app the zero-code way (CLI or Operator layout) and send it requests.

Usage::

    with serve(FASTAPI, "cli", env, tmp_path) as server:
        traces = request_sessions(server.base_url, SESSIONS)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import httpx
import pytest

from tests.ecosystem.servers import Server, running

from .layouts import APPS_ROOT, gunicorn_cli, gunicorn_plain, uvicorn_cli, uvicorn_plain
from .receiver import Receiver, Span

Layout = Literal["cli", "operator"]
Session = tuple[str | None, str | None, str | None]
NO_SESSION: Final[Session] = (None, None, None)
HEADERS: Final = ("X-Session-ID", "X-User-ID", "X-Tenant-ID")  # the middleware's defaults
DJANGO: Final = {"DJANGO_SETTINGS_MODULE": "apps.django_settings"}


@dataclass(frozen=True)
class App:
    """An app of tests/zerocode/apps under a server."""

    id: str
    target: str
    server: Literal["uvicorn", "gunicorn"]
    env: Mapping[str, str]


FASTAPI: Final = App("fastapi-uvicorn", "apps.fastapi_app:app", "uvicorn", {})
STARLETTE: Final = App("starlette-uvicorn", "apps.starlette_app:app", "uvicorn", {})
FLASK: Final = App("flask-gunicorn", "apps.flask_app:app", "gunicorn", {})
DJANGO_WSGI: Final = App("django-gunicorn", "apps.django_wsgi:application", "gunicorn", DJANGO)
DJANGO_ASGI: Final = App("django-uvicorn", "apps.django_asgi:application", "uvicorn", DJANGO)
APPS: Final = (FASTAPI, STARLETTE, FLASK, DJANGO_WSGI, DJANGO_ASGI)


@dataclass(frozen=True)
class Environment:
    """How to start an app in a layout: the python and PYTHONPATH (None: the test's)."""

    layout: Layout
    python: str | None = None
    pythonpath: str | None = None


def where(layout: str, request: pytest.FixtureRequest) -> Environment:
    """The layout's environment (the Operator's is built on first use)."""
    if layout == "cli":
        return Environment("cli")
    operator = request.getfixturevalue("operator")
    return Environment("operator", operator.python, operator.pythonpath)


@contextmanager
def serve(
    app: App, where: Environment, env: Mapping[str, str], directory: Path
) -> Iterator[Server]:
    """Run ``app`` under its server, zero-code instrumented, until the block ends."""
    if where.layout == "cli":
        argv = (uvicorn_cli if app.server == "uvicorn" else gunicorn_cli)(app.target)
        extra = {"PYTHONPATH": APPS_ROOT}
    else:
        argv = (uvicorn_plain if app.server == "uvicorn" else gunicorn_plain)(app.target)
        extra = {"PYTHONPATH": where.pythonpath or ""}
    python = where.python or sys.executable
    directory.mkdir(parents=True, exist_ok=True)
    with running(argv, directory, env={**app.env, **env, **extra}, python=python) as server:
        yield server


def request_sessions(base_url: str, sessions: Sequence[Session], path: str = "/chat") -> None:
    """One ``GET path`` per session, its ids in the default headers; each must succeed."""
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as client:
        for session in sessions:
            headers = {
                name: value
                for name, value in zip(HEADERS, session, strict=True)
                if value is not None
            }
            response = client.get(path, headers=headers)
            assert response.status_code == 200, response.text


def traces(spans: Sequence[Span]) -> dict[str, list[Span]]:
    """The spans grouped by trace."""
    grouped: dict[str, list[Span]] = {}
    for span in spans:
        grouped.setdefault(span.trace_id, []).append(span)
    return grouped


def sessions_of(receiver: Receiver, service: str, requests: int) -> dict[Session, list[Span]]:
    """Once ``requests`` server spans of ``service`` are in: each trace's spans,
    keyed by the one session all of them carry (an assertion fails if they differ)."""
    receiver.wait_for_spans(lambda s: s.service == service and s.kind == "SERVER", requests)
    result: dict[Session, list[Span]] = {}
    for trace_id, spans in traces([s for s in receiver.spans() if s.service == service]).items():
        carried = {span.session() for span in spans}
        assert len(carried) == 1, (trace_id, [(s.name, s.session()) for s in spans])
        result[carried.pop()] = spans
    return result
