"""A Celery worker, zero-code: the task runs in the session of the request that sent it.

A FastAPI endpoint (apps.celery_web, which never imports us) sends a
task through a real redis-server to a real prefork worker, both started by
``opentelemetry-instrument`` with nothing but environment variables. The
instrumentor ran ``instrument_celery()`` in both processes: the publisher's
span, the worker's consumer span and the task's own span carry the request's
ids, and a request without ids sends a task without any.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from tests.celery.conftest import _stop

from .layouts import APPS_ROOT, CLI, needs_cli
from .receiver import Receiver
from .serving import NO_SESSION, App, Environment, Session, request_sessions, serve, where

pytestmark = [needs_cli, pytest.mark.servers]

TASK: Final = "apps.celery_tasks.summarise"
SESSIONS: list[Session] = [("conv-1", "alice", "acme"), NO_SESSION, ("conv-2", "bob", None)]


@pytest.fixture(params=["cli", "operator"])
def place(request: pytest.FixtureRequest) -> Environment:
    return where(request.param, request)


@pytest.fixture
def worker(
    place: Environment, redis_socket: str, receiver: Receiver, tmp_path: Path
) -> Iterator[Path]:
    """``celery worker`` (prefork, one child), zero-code instrumented; its log file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(receiver.environment("worker"))
    env.update(ZEROCODE_REDIS_SOCKET=redis_socket, PYTHONPATH=place.pythonpath or APPS_ROOT)
    if place.layout == "cli":  # opentelemetry-instrument python -m celery
        start = [sys.executable, str(CLI), sys.executable]
    else:  # the Operator's: plain python -m celery in the app's environment
        start = [str(place.python)]
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *start,
                "-m",
                "celery",
                "-A",
                "apps.celery_tasks",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--loglevel",
                "warning",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log_path
    finally:
        _stop(process)


def test_the_task_runs_in_the_session_of_the_request(
    place: Environment, worker: Path, redis_socket: str, receiver: Receiver, tmp_path: Path
) -> None:
    env = {**receiver.environment("web"), "ZEROCODE_REDIS_SOCKET": redis_socket}
    web = App("celery-web", "apps.celery_web:app", "uvicorn", {})
    with serve(web, place, env, tmp_path / "web") as server:
        request_sessions(server.base_url, SESSIONS)
        tasks = receiver.wait_for_spans(lambda span: span.name == "task work", len(SESSIONS))
        consumers = receiver.wait_for_spans(
            lambda span: span.service == "worker" and span.kind == "CONSUMER", len(SESSIONS)
        )
        log = server.log() + worker.read_text(errors="replace")

    producers = [span for span in receiver.spans() if span.kind == "PRODUCER"]
    assert [span.session() for span in producers] == SESSIONS, log
    assert [span.session() for span in consumers] == SESSIONS, log
    assert [span.session() for span in tasks] == SESSIONS, log
    assert {span.service for span in tasks} == {"worker"}
    assert all(span.name.endswith(TASK) for span in [*producers, *consumers])
