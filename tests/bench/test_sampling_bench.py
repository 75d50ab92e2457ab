"""benchmarks/sampling_bench.py runs, alone and as the runner's ``sampling``
section, and prints its rows (figures are the benchmark's business, not a test's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["sampling_bench.py", "--smoke"], id="alone"),
        pytest.param(["run.py", "--smoke", "--sections", "sampling"], id="runner"),
    ],
)
def test_the_sampling_benchmark_prints_its_ratios(command: list[str]) -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / command[0]), *command[1:]],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    rows = [line.split() for line in completed.stdout.splitlines() if line.startswith("sampling")]
    assert len(rows) == 10
    assert any("TraceIdRatioBased" in row and row[-1] == "1" for row in rows)
    assert "FAILED TO RUN" not in completed.stdout
