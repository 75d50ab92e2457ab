"""The callgrind-fastpaths section (benchmarks/fastpaths_callgrind.py) runs and
prints, for every private-name fast path, its instructions against its public
fallback and a keep/remove verdict (figures not checked: counting belongs in the
benchmark, never in assertions; tests/test_fastpaths.py holds the answers equal)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"
HEAD = "| fast path | unit | bare | ours, fast | ours, public | ours fast / public | saves |"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("valgrind") is None,
        reason="valgrind is not installed (apt-get install valgrind): it counts the instructions",
    ),
]


@pytest.mark.timeout(900)
def test_the_fastpaths_section_prints_a_verdict_per_fast_path() -> None:
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--smoke", "--sections", "callgrind-fastpaths"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert not any("FAILED TO RUN" in line for line in lines), completed.stdout
    start = lines.index(HEAD)
    rows = [line for line in lines[start + 2 :] if line.startswith("| ")]
    assert len(rows) >= 4, completed.stdout
    for row in rows:
        assert re.fullmatch(
            r"\| .+ \| [\d,]+ \| [\d,]+ \| [\d,]+ \| .+ \| -?[\d.]+% \((keep|remove)\) \|", row
        ), row
