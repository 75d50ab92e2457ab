"""The benchmark runner runs and prints its table (figures are not checked here).

Timing belongs in the benchmark suite, never in assertions; this only guards
the runner against bit rot: it starts, measures one small section in its
quickest mode, prints the table and the budget verdicts, and exits 0.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


@pytest.mark.parametrize(
    ("section", "row"),
    [
        pytest.param("processor", "ours, session of 3 ids", id="processor"),
        pytest.param("wsgi", "wsgi 5-line", id="wsgi"),
        pytest.param("zerocode", "zero-code", id="zerocode"),
    ],
)
def test_runner_prints_a_table(section: str, row: str) -> None:
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--smoke", "--sections", section],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("otel-genai-session benchmarks (smoke")
    assert lines[1].split()[:4] == ["section", "target", "scenario", "variant"]
    assert any(row in line and line.startswith(section) for line in lines)
    assert "Budgets (issue 10), from the figures above:" in lines


def test_unknown_section_is_refused() -> None:
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--sections", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "unknown section(s) nope" in completed.stderr
