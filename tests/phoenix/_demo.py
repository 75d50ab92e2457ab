"""Run the demo into a Phoenix server, as its README commands do, and wait for the spans.

Usage::

    run = run_demo(phoenix.url, "my-project", workdir)
    wait_for_spans(api, "my-project", run.report.spans)

The demo runs in a subprocess with this interpreter (the demo's environment,
``.venv-official``), exporting over OTLP/HTTP to Phoenix under a project name of
its own and writing its per-session report as JSON. ``without="processor"`` or
``without="middleware"`` runs it through ``_demo_without.py``, with
``SessionSpanProcessor`` or ``GenAISessionMiddleware`` replaced by a stand-in that
does nothing, so a test can show that the Phoenix check fails then.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ._api import PhoenixAPI
from ._demo_without import DEMO
from ._server import ROOT
from ._sessions import DemoReport

__all__ = ["DemoRun", "run_demo", "wait_for_spans"]

DEMO_TIMEOUT = 180.0  # seconds; the demo itself takes a few
INGEST_TIMEOUT = 60.0  # Phoenix writes received spans in batches, about once a second


@dataclass(frozen=True)
class DemoRun:
    """The demo's exit status, output and report (None when it wrote none)."""

    returncode: int
    stdout: str
    stderr: str
    report: DemoReport | None

    @property
    def output(self) -> str:
        return f"exit status {self.returncode}\n{self.stdout}\n{self.stderr}"


def run_demo(
    phoenix_url: str,
    project: str,
    workdir: Path,
    without: Literal["processor", "middleware"] | None = None,
) -> DemoRun:
    report_path = workdir / f"{project}.json"
    args = ["--otlp", phoenix_url, "--project", project, "--json", str(report_path), "--no-color"]
    if without is None:
        command = [sys.executable, str(DEMO), *args]
    else:
        command = [sys.executable, str(Path(__file__).with_name("_demo_without.py")), without]
        command += args
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=_demo_environment(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    report = DemoReport.load(report_path) if report_path.exists() else None
    return DemoRun(result.returncode, result.stdout, result.stderr, report)


def _demo_environment() -> dict[str, str]:
    """Ours, without what could send the demo's telemetry elsewhere or colour it."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OTEL_") and name.lower() not in ("http_proxy", "https_proxy")
    }
    environment.update({"PYTHONIOENCODING": "utf-8", "NO_COLOR": "1", "NO_PROXY": "*"})
    return environment


def wait_for_spans(api: PhoenixAPI, project: str, count: int) -> int:
    """Poll until Phoenix holds ``count`` spans in ``project`` (or the time is up);
    returns how many it holds. Bounded in time: a missing span fails the check
    that follows, with the numbers, instead of hanging."""
    deadline = time.monotonic() + INGEST_TIMEOUT
    held = 0
    while time.monotonic() < deadline:
        held = len(api.spans(project)) if api.project_id(project) else 0
        if held >= count:
            return held
        time.sleep(0.5)
    return held
