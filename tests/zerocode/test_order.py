"""Our middleware ends up outside OpenTelemetry's server-span middleware, in either
instrumentation order (the CLI loads instrumentors in entry-point order, which
nobody controls), and ``uninstrument()`` undoes it.

Each case runs in a fresh process (instrumentors patch classes process-wide):
instrumentors applied in the given order, a request, then both undone and one
more request.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sampling._support import child_environment

from .layouts import APPS_ROOT

SCRIPT = Path(__file__).with_name("instrument_in_order.py")


@pytest.mark.parametrize("order", ["ours-first", "otel-first"])
@pytest.mark.parametrize("framework", ["fastapi", "starlette", "flask", "django"])
def test_the_server_span_is_inside_the_session_in_either_order(framework: str, order: str) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), framework, order],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_environment({"PYTHONPATH": APPS_ROOT}),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    phases = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    instrumented, uninstrumented = phases[0]["instrumented"], phases[1]["uninstrumented"]

    assert [phase["patched"] for phase in phases] == [True, False]
    servers = [span for span in instrumented if span[1] == "SERVER"]
    assert len(servers) == 1, instrumented  # OpenTelemetry's server span, exactly once
    assert {session_id for _, _, session_id in instrumented} == {"conv-1"}, instrumented
    # Undone: no span has ids any more (FastAPI's own telemetry may still make a few).
    assert ["app work", "INTERNAL", None] in uninstrumented, uninstrumented
    assert {session_id for _, _, session_id in uninstrumented} == {None}, uninstrumented
