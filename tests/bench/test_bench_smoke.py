"""Every section of benchmarks/run.py runs in its quickest mode and prints its rows.

Figures are not checked (timing belongs in the benchmark, never in assertions):
these tests guard each section against bit rot. The sampling section's test is
test_sampling_bench.py, the callgrind sections' (all five) test_callgrind_bench.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers

BENCH_TESTS = Path(__file__).resolve().parent
RUNNER = BENCH_TESTS.parents[1] / "benchmarks" / "run.py"

ROWS: dict[str, tuple[str, ...]] = {
    "import": ("cold import",),
    "processor": ("ours, session of 3 ids",),
    "handler": ("llm span",),
    "wsgi": ("wsgi 5-line",),
    "asgi": ("ours (headers)",),
    "json-stdlib": ("(stdlib json)",),
    "zerocode": ("zero-code",),
    "e2e": ("uvicorn",),
    "cross-process": (
        "propagate_baggage",
        "+ SessionBaggagePropagator",
        "publish (memory broker)",
        "task run",
        "queued job: resume(session)",
        "MCP tool: resume(session_from_scope)",
    ),
    "logs-privacy": ("+ SessionLogFilter", "user.id hashed"),
    "session": ("with session_context(3 ids): pass", "get_session_context(), in a session"),
    "langchain": ("ours per call", "instrument_langchain()"),
}
"""Rows each section must print (in a line of the section's table)."""

TESTED_ELSEWHERE = {
    "sampling": "test_sampling_bench.py",
    "callgrind-asgi": "test_callgrind_bench.py",
    "callgrind-wsgi": "test_callgrind_bench.py",
    "callgrind-properties": "test_callgrind_bench.py",
    "callgrind-conversation": "test_callgrind_bench.py",
    "callgrind-fastpaths": "test_callgrind_bench.py",
}


def _sections() -> tuple[str, ...]:
    """run.py's SECTIONS, read from its source (importing it runs nothing, but
    needs benchmarks/ on the path)."""
    for node in ast.parse(RUNNER.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SECTIONS":
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("run.py has no SECTIONS")


def test_every_section_has_a_smoke_test() -> None:
    assert sorted(_sections()) == sorted([*ROWS, *TESTED_ELSEWHERE])
    for name in set(TESTED_ELSEWHERE.values()):
        assert (BENCH_TESTS / name).is_file(), name


@pytest.mark.parametrize("section", list(ROWS))
def test_the_section_prints_its_rows(section: str) -> None:
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--smoke", "--sections", section],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("otel-genai-session benchmarks (smoke")
    assert "FAILED TO RUN" not in completed.stdout
    assert "Budgets (issue 10), from the figures above:" in lines
    for row in ROWS[section]:
        assert any(row in line for line in lines), row


def test_unknown_section_is_refused() -> None:
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--sections", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "unknown section(s) nope" in completed.stderr
