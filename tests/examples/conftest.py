"""Run examples the way a reader does: ``python examples/X.py``, in a subprocess.

A subprocess, not an import: the examples are scripts (some set the global
tracer provider, the demo starts a server), and a test must see what a person
running them sees: the exit status and the text printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TIMEOUT = 60  # seconds; each script finishes in a few

RunPython = Callable[..., "subprocess.CompletedProcess[str]"]


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without what could change an example's output:
    our OTEL_* variables, proxies (loopback only), colours."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OTEL_") and name.lower() not in ("http_proxy", "https_proxy")
    }
    env.update({"PYTHONIOENCODING": "utf-8", "NO_COLOR": "1", "NO_PROXY": "*"})
    env.update(extra or {})
    return env


@pytest.fixture
def run_python() -> RunPython:
    """``run_python(*args, env=None, cwd=REPO)``: run the interpreter of this test
    session with warnings as errors (as the suite runs) and capture the text."""

    def run(
        *args: str, env: Mapping[str, str] | None = None, cwd: Path = REPO
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-W", "error", *args],
            cwd=cwd,
            env=child_environment(env),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=TIMEOUT,
            check=False,
        )

    return run
