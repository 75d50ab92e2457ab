"""A real redis-server and a real Celery worker process, each started by the test.

redis-server listens on a unix socket in the test's temporary directory (no TCP
port: nothing to race for). Locally a missing redis-server skips the real-broker
tests; with ``CI`` set it fails them (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: .ci/run installs it with apt-get")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    directory = tmp_path_factory.mktemp("redis")
    sock = directory / "redis.sock"
    process = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "redis-server exited at start"
            try:
                if sock.exists() and redis.Redis(unix_socket_path=str(sock)).ping():
                    break
            except redis.exceptions.ConnectionError:
                pass
            assert time.monotonic() < deadline, "redis-server did not answer within 20 s"
            time.sleep(0.05)
        yield str(sock)
    finally:
        _stop(process)


WorkerFactory = Callable[[str], Path]


@pytest.fixture
def celery_worker_process(
    redis_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WorkerFactory]:
    """Start ``celery worker`` (prefork, one child: every task on the same
    process) for tests.celery.worker_app; returns the file its spans go to."""
    started: list[subprocess.Popen[bytes]] = []
    monkeypatch.setenv("XPROC_REDIS_SOCKET", redis_socket)

    def start(order: str) -> Path:
        spans = tmp_path / f"spans-{order}.jsonl"
        spans.touch()
        env = {
            **os.environ,
            "XPROC_REDIS_SOCKET": redis_socket,
            "XPROC_SPANS_FILE": str(spans),
            "XPROC_ORDER": order,
        }
        with (tmp_path / f"worker-{order}.log").open("wb") as log:  # the child keeps its own fd
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tests.celery.worker_app",
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
                    "--hostname",
                    f"xproc-{order}@%h",
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return spans

    yield start
    for process in started:
        _stop(process)
