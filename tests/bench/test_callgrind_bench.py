"""The callgrind sections run and print instructions per request (figures not checked).

Counting belongs in the benchmark, never in assertions: this only guards the
sections against bit rot in their quickest mode. Selected by name, they run
alone: floor, asgi-correlation-id (ASGI), ours on a memo hit, on a new
conversation and on the Zipf mix, with the ratios and the memo's hit rate.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RUNNER = BENCHMARKS / "run.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("valgrind") is None,
        reason="valgrind is not installed (apt-get install valgrind): it counts the instructions",
    ),
]

ROWS = {
    "callgrind-asgi": (
        "floor",
        "asgi-correlation-id",
        "ours, hit path",
        "ours, cold path",
        "ours, mix",
        "ours, memo off",
    ),
    "callgrind-wsgi": ("floor", "ours, hit path", "ours, cold path", "ours, mix", "ours, memo off"),
}
_NUMBER = r"[-\d,]+"


def _block(lines: list[str], section: str) -> list[str]:
    start = lines.index(f"{section}: instructions per request (callgrind; (2N - N runs) / N)")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), None)
    return lines[start + 1 : end]


@pytest.mark.timeout(900)  # about 30 interpreters under valgrind, two at a time
def test_callgrind_sections_print_every_row_in_one_run() -> None:
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--smoke", "--sections", "callgrind-asgi,callgrind-wsgi"],
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert not any("FAILED TO RUN" in line for line in lines), completed.stdout
    for section, rows in ROWS.items():
        block = _block(lines, section)
        for row in rows:
            (line,) = [line for line in block if line.startswith(f"  {row} ")]
            assert re.search(rf"\s{_NUMBER}\s+\+?{_NUMBER}", line), line
        assert any("cold path <= 2 x floor:" in line for line in block), block
        assert any("the memo saves" in line for line in block), block
    assert any("cold path <= 0.5 x asgi-correlation-id:" in line for line in lines)
    assert any("the memo's hit rate on the measured half:" in line for line in lines)


def test_the_mix_is_deterministic_and_repeats_conversations() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import callgrind_bench
    finally:
        sys.path.remove(str(BENCHMARKS))

    mix = callgrind_bench.mix_ids()

    assert mix == callgrind_bench.mix_ids()
    assert len({session for session, _, _ in mix}) == callgrind_bench.CONVERSATIONS
    assert len(mix) > 2 * callgrind_bench.CONVERSATIONS  # conversations have several turns
    assert len({tenant for _, _, tenant in mix}) <= callgrind_bench.TENANTS
