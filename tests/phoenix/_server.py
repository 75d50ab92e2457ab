"""A real Arize Phoenix server for tests and scripts: started quiet, private and local.

Usage::

    with PhoenixServer(phoenix_executable(), workdir) as phoenix:
        ...  # export OTLP/HTTP to f"{phoenix.url}/v1/traces"; read it with _api.PhoenixAPI

``phoenix serve`` runs in a process group of its own, with a fresh working
directory (its SQLite database, pid files and temporary files all go there) and
an environment built from scratch: no inherited ``PHOENIX_*`` or ``OTEL_*``
variable can point it elsewhere. Both its ports are 0, so the OS picks free ones
as Phoenix binds them (no port is chosen first and bound later, so no race);
the HTTP port is read from uvicorn's start-up line. Every switch that makes
Phoenix reach beyond this machine is off: the telemetry pixels (FullStory,
Scarf), external resources (web fonts, the WASM sandbox download), the agent
assistant (LLM providers, its docs MCP server, web access, GitHub tools) and
the MCP server it would mount. Stopping ends the whole process group.

Phoenix's gRPC OTLP receiver listens on all interfaces (``[::]``, fixed in its
code); only its HTTP server, where the spans and the UI go, is on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

__all__ = ["PHOENIX_ENVIRONMENT", "ROOT", "PhoenixServer", "phoenix_executable"]

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 300.0  # seconds; about 60 on a busy 2-core machine (migrations, imports)
STOP_TIMEOUT = 20.0
LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")

# Everything that decides where Phoenix listens, stores and connects.
PHOENIX_ENVIRONMENT = {
    "PHOENIX_HOST": "127.0.0.1",
    "PHOENIX_PORT": "0",
    "PHOENIX_GRPC_PORT": "0",
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
    "PHOENIX_AGENTS_DISABLE_WEB_ACCESS": "true",
    "PHOENIX_AGENTS_DISABLE_BASH": "true",
    "PHOENIX_AGENTS_DISABLE_GITHUB": "true",
    "PHOENIX_ENABLE_MCP_SERVER": "false",
    "PHOENIX_LOG_MIGRATIONS": "false",
    "DO_NOT_TRACK": "1",
}
# Kept from the caller's environment: what a process needs to run at all.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT")


def phoenix_executable() -> Path:
    """``$PHOENIX_BIN``, else the ``phoenix`` of ``.venv-phoenix`` (made by tasks.py)."""
    configured = os.environ.get("PHOENIX_BIN")
    if configured:
        return Path(configured)
    scripts = "Scripts" if os.name == "nt" else "bin"
    return ROOT / ".venv-phoenix" / scripts / ("phoenix.exe" if os.name == "nt" else "phoenix")


class PhoenixServer:
    """``phoenix serve`` in its own process group; ``url`` once it listens."""

    def __init__(self, executable: Path, workdir: Path) -> None:
        if not executable.exists():
            raise FileNotFoundError(
                f"no Phoenix at {executable!r}: run `python3 tasks.py phoenix`, "
                "or set PHOENIX_BIN to a `phoenix` executable"
            )
        self.executable = executable
        self.workdir = workdir
        self.log_path = workdir / "phoenix.log"
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PhoenixServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        environment = {name: os.environ[name] for name in INHERITED if name in os.environ}
        environment.update(PHOENIX_ENVIRONMENT)
        environment.update(PHOENIX_WORKING_DIR=str(self.workdir), TMPDIR=str(self.workdir))
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [str(self.executable), "serve"],
                cwd=self.workdir,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own, to stop as a whole
            )
        try:
            self.url = f"http://127.0.0.1:{self._wait_for_port()}"
        except BaseException:
            self.stop()
            raise

    def _wait_for_port(self) -> int:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            listening = LISTENING.search(self.log())
            if listening:
                return int(listening[1])
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"phoenix serve exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            time.sleep(0.2)
        raise TimeoutError(f"phoenix serve did not listen within {STARTUP_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """SIGTERM to the process group (uvicorn shuts down gracefully), then SIGKILL."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def _signal_group(pid: int, signum: int) -> None:
    if sys.platform == "win32":  # no process groups: the server process only
        os.kill(pid, signum)
        return
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pid, signum)  # start_new_session: the group id is the server's pid
