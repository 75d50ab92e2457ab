"""The callgrind-properties section runs and prints instructions per span for 0,
3 and 16 properties with their ratios to the three ids alone (figures not checked:
counting belongs in the benchmark, never in assertions)."""

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
def test_the_properties_section_prints_every_row_in_one_run() -> None:
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--smoke", "--sections", "callgrind-properties"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert not any("FAILED TO RUN" in line for line in lines), completed.stdout
    start = lines.index(
        "callgrind-properties: instructions per span with SessionSpanProcessor (callgrind)"
    )
    block = lines[start + 1 : start + 6]
    assert re.search(r"^\s+no processor .*\s[\d,]+$", block[1]), block
    for row, label in zip(block[2:], ("0", "3", "16"), strict=True):
        assert row.lstrip().startswith(f"3 ids, {label} properties"), row
        assert re.search(r"\s[\d,]+\s+-?[\d,]+\s+-?\d+\.\d\dx$", row), row
    assert block[2].endswith("1.00x")
