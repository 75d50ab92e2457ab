"""Helpers of the sampling tests: the expected decision, written from the spec
(not from the module under test), and real service processes."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
SERVICE: Final = HERE / "service.py"
INSTRUMENT_CLI: Final = Path(sys.executable).parent / "opentelemetry-instrument"
START_TIMEOUT: Final = 30.0
SPANS_TIMEOUT: Final = 10.0
STOP_TIMEOUT: Final = 10.0

# docs/sampling.md: th for 0.1 and 0.5 at the spec's recommended 4 digits of precision.
TH: Final = {0.1: "e666", 0.5: "8", 1.0: "0"}


def rv_hex(session_id: str) -> str:
    """The session's ``rv``: the first 14 hex digits of SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:14]


def expected_kept(session_id: str, ratio: float) -> bool:
    """``rv >= th``, compared as 14-digit hex strings as the spec allows."""
    return rv_hex(session_id) >= TH[ratio].ljust(14, "0")


def expected_tracestate(session_id: str, ratio: float) -> str:
    if expected_kept(session_id, ratio):
        return f"ot=th:{TH[ratio]};rv:{rv_hex(session_id)}"
    return f"ot=rv:{rv_hex(session_id)}"


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any OTEL_* setting, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Service:
    url: str
    spans_path: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def spans(self) -> list[dict[str, Any]]:
        if not self.spans_path.exists():
            return []
        lines = self.spans_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def spans_until(
        self, keep: Callable[[dict[str, Any]], bool], count: int
    ) -> list[dict[str, Any]]:
        """The spans ``keep`` accepts once there are ``count`` (a server span ends
        just after its response is sent), or whatever is there after the timeout."""
        deadline = time.monotonic() + SPANS_TIMEOUT
        while True:
            found = [span for span in self.spans() if keep(span)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@contextmanager
def running_service(
    directory: Path,
    name: str,
    arguments: Sequence[str],
    *,
    instrument: bool = False,
    env: Mapping[str, str] | None = None,
) -> Iterator[Service]:
    """tests/sampling/service.py in its own process, on a socket bound here."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    spans_path, log_path = directory / f"{name}.spans.jsonl", directory / f"{name}.log"
    command = [sys.executable, str(SERVICE), "--fd", str(sock.fileno()), "--spans", str(spans_path)]
    if instrument:
        command = [str(INSTRUMENT_CLI), *command]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*command, *arguments],
            cwd=directory,
            env=child_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
        )
    sock.close()  # the child holds its own descriptor of the listening socket
    service = Service(f"http://127.0.0.1:{port}", spans_path, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "sampler: " not in service.log():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{service.log()}")
            time.sleep(0.05)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
