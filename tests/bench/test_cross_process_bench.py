"""benchmarks/cross_process_bench.py runs and prints one row per feature.

Figures are not checked (timing belongs in the benchmark, never in assertions):
this guards the script against bit rot in its quickest mode.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cross_process_bench.py"
ROWS = (
    "ASGI request (3 header ids), propagate_baggage",
    "outgoing request inject, + SessionBaggagePropagator",
    "Celery publish (memory broker), instrument_celery()",
    "Celery task run, instrument_celery()",
    "queued job (one span), session_context.resume",
    "MCP tool (one span), resume(session_from_scope)",
)


def test_prints_a_ratio_for_every_feature() -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split()[-2:] == ["cost", "ratio"]
    for row in ROWS:
        (line,) = [line for line in lines if line.startswith(row)]
        assert line.rstrip().endswith("x"), line
