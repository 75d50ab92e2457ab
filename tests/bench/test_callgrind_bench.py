"""The callgrind sections run and print their instructions (figures not checked).

Counting belongs in the benchmark, never in assertions: this only guards the
sections against bit rot in their quickest mode. Selected by name, they run
alone. Per request (callgrind-asgi, callgrind-wsgi): floor, the validating
floor, asgi-correlation-id (ASGI), ours on a memo hit, on a new conversation
and on the Zipf mix, with the ratios and the memo's hit rate. Per span: 0, 3 and 16 properties
(callgrind-properties), the conversation-id option off and on
(callgrind-conversation), each fast path against its public fallback
(callgrind-fastpaths).
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
        "floor, validating",
        "asgi-correlation-id",
        "ours, hit path",
        "ours, cold path",
        "ours, mix",
        "ours, memo off",
    ),
    "callgrind-wsgi": (
        "floor",
        "floor, validating",
        "ours, hit path",
        "ours, cold path",
        "ours, mix",
        "ours, memo off",
    ),
}
_NUMBER = r"[-\d,]+"


def _block(lines: list[str], section: str) -> list[str]:
    start = lines.index(f"{section}: instructions per request (callgrind; (2N - N runs) / N)")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), None)
    return lines[start + 1 : end]


def _run(sections: str) -> list[str]:
    """The smoke run's output lines, after checking that every section ran."""
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--smoke", "--sections", sections],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert not any("FAILED TO RUN" in line for line in lines), completed.stdout
    return lines


@pytest.mark.timeout(900)  # about 30 interpreters under valgrind, two at a time
def test_callgrind_sections_print_every_row_in_one_run() -> None:
    lines = _run("callgrind-asgi,callgrind-wsgi")

    for section, rows in ROWS.items():
        block = _block(lines, section)
        for row in rows:
            (line,) = [line for line in block if line.startswith(f"  {row} ")]
            assert re.search(rf"\s{_NUMBER}\s+\+?{_NUMBER}", line), line
        assert any("cold path <= 2 x floor:" in line for line in block), block
        assert any("x the validating floor" in line for line in block), block
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


@pytest.mark.timeout(900)
def test_the_properties_section_prints_every_row_in_one_run() -> None:
    lines = _run("callgrind-properties")

    start = lines.index(
        "callgrind-properties: instructions per span with SessionSpanProcessor (callgrind)"
    )
    block = lines[start + 1 : start + 6]
    assert re.search(r"^\s+no processor .*\s[\d,]+$", block[1]), block
    for row, label in zip(block[2:], ("0", "3", "16"), strict=True):
        assert row.lstrip().startswith(f"3 ids, {label} properties"), row
        assert re.search(r"\s[\d,]+\s+-?[\d,]+\s+-?\d+\.\d\dx$", row), row
    assert block[2].endswith("1.00x")


@pytest.mark.timeout(900)
def test_the_conversation_section_prints_both_spans_off_and_on() -> None:
    lines = _run("callgrind-conversation")

    start = lines.index("| span | bare | ours, off | ours, on |")
    rows = lines[start + 2 : start + 4]
    assert [row.split(" | ")[0] for row in rows] == [
        "| plain span, 3-id session",
        "| chat span (4 gen_ai/server attributes), 3-id session",
    ]
    for row in rows:
        assert re.fullmatch(r"\| .+ \| [\d,]+ \| \+-?[\d,]+ \| \+-?[\d,]+ \|", row), row


@pytest.mark.timeout(900)
def test_the_fastpaths_section_prints_a_verdict_per_fast_path() -> None:
    lines = _run("callgrind-fastpaths")

    head = "| fast path | unit | bare | ours, fast | ours, public | ours fast / public | saves |"
    start = lines.index(head)
    rows = [line for line in lines[start + 2 :] if line.startswith("| ")]
    assert len(rows) >= 4, lines
    verdict = r"\| .+ \| [\d,]+ \| [\d,]+ \| [\d,]+ \| .+ \| -?[\d.]+% \((keep|remove)\) \|"
    for row in rows:
        assert re.fullmatch(verdict, row), row
