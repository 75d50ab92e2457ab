"""A real Arize Phoenix server for tests and scripts: started quiet, private and local.

Usage::

    with PhoenixServer(phoenix_executable(), workdir) as phoenix:
        api = PhoenixAPI(phoenix.url)
        ...  # export OTLP/HTTP to f"{phoenix.url}/v1/traces", read api.sessions(project)

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
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "PHOENIX_ENVIRONMENT",
    "PhoenixAPI",
    "PhoenixServer",
    "PhoenixSession",
    "PhoenixSpan",
    "phoenix_executable",
]

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


@dataclass(frozen=True)
class PhoenixSession:
    """One row of Phoenix's Sessions view (GraphQL ``ProjectSession``)."""

    global_id: str
    session_id: str
    user_id: str | None
    traces: int
    prompt_tokens: int
    completion_tokens: int
    first_input: str | None
    last_output: str | None


@dataclass(frozen=True)
class PhoenixSpan:
    """A span as Phoenix stored it: its trace, name and flat attributes."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    attributes: dict[str, Any]


_SESSIONS_QUERY = """
query Sessions($project: String!, $after: String) {
  getProjectByName(name: $project) {
    sessions(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node {
        id sessionId userId numTraces
        tokenUsage { prompt completion }
        firstInput { value }
        lastOutput { value }
      } }
    }
  }
}
"""


class PhoenixAPI:
    """The parts of Phoenix's REST and GraphQL APIs the tests read (stdlib HTTP)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        # No proxy: the server is on loopback, and nothing may go anywhere else.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=self.timeout) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def _rest_pages(self, path: str, **query: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = dict(query, **({"cursor": cursor} if cursor else {}))
            page = self._request("GET", f"{path}?{urllib.parse.urlencode(params)}")
            rows.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                return rows

    def page(self, path: str) -> str:
        """The body of a UI page, as a browser first receives it."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + path, timeout=self.timeout) as response:
            return str(response.read().decode("utf-8"))

    def version(self) -> str:
        return self.page("/arize_phoenix_version").strip()

    def project_id(self, project: str) -> str | None:
        try:
            found = self._request("GET", f"/v1/projects/{urllib.parse.quote(project)}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
        return str(found["data"]["id"])

    def delete_project(self, project: str) -> None:
        """Delete the project, its traces and its sessions (with every trace in them)."""
        try:
            self._request("DELETE", f"/v1/projects/{urllib.parse.quote(project)}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise

    def spans(self, project: str) -> list[PhoenixSpan]:
        rows = self._rest_pages(f"/v1/projects/{urllib.parse.quote(project)}/spans", limit="1000")
        return [
            PhoenixSpan(
                trace_id=row["context"]["trace_id"],
                span_id=row["context"]["span_id"],
                parent_id=row.get("parent_id"),
                name=row["name"],
                attributes=dict(row.get("attributes") or {}),
            )
            for row in rows
        ]

    def sessions(self, project: str) -> list[PhoenixSession]:
        sessions: list[PhoenixSession] = []
        after: str | None = None
        while True:
            answer = self._request(
                "POST",
                "/graphql",
                {"query": _SESSIONS_QUERY, "variables": {"project": project, "after": after}},
            )
            if answer.get("errors"):
                raise RuntimeError(f"Phoenix GraphQL errors: {answer['errors']}")
            found = answer["data"]["getProjectByName"]
            if found is None:
                return sessions
            connection = found["sessions"]
            sessions.extend(_session(edge["node"]) for edge in connection["edges"])
            if not connection["pageInfo"]["hasNextPage"]:
                return sessions
            after = connection["pageInfo"]["endCursor"]


def _session(node: dict[str, Any]) -> PhoenixSession:
    usage = node["tokenUsage"]
    return PhoenixSession(
        global_id=node["id"],
        session_id=node["sessionId"],
        user_id=node["userId"],
        traces=int(node["numTraces"]),
        prompt_tokens=int(usage["prompt"]),
        completion_tokens=int(usage["completion"]),
        first_input=(node["firstInput"] or {}).get("value"),
        last_output=(node["lastOutput"] or {}).get("value"),
    )
