"""The callgrind-conversation section (benchmarks/conversation_callgrind.py) runs
and prints instructions per span with the conversation-id option off and on
(figures not checked: counting belongs in the benchmark, never in assertions)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("valgrind") is None,
        reason="valgrind is not installed (apt-get install valgrind): it counts the instructions",
    ),
]


@pytest.mark.timeout(900)
def test_the_conversation_benchmark_prints_both_spans_off_and_on() -> None:
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--smoke", "--sections", "callgrind-conversation"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert not any("FAILED TO RUN" in line for line in lines), completed.stdout
    start = lines.index("| span | bare | ours, off | ours, on |")
    rows = lines[start + 2 : start + 4]
    assert [row.split(" | ")[0] for row in rows] == [
        "| plain span, 3-id session",
        "| chat span (4 gen_ai/server attributes), 3-id session",
    ]
    for row in rows:
        assert re.fullmatch(r"\| .+ \| [\d,]+ \| \+-?[\d,]+ \| \+-?[\d,]+ \|", row), row
