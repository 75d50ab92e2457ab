"""Callgrind: what session properties cost per span (issue 24).

A span is started and ended with ``SessionSpanProcessor`` inside a session of
three ids and 0, 3 or 16 properties (16 is ``MAX_PROPERTIES``), and without
the processor (bare). Instructions per span are the difference of two runs of
N and 2N spans divided by N (start-up cancels out); "ours" is that minus the
bare span's, so it holds our ``on_start`` and the SDK's work of storing the
attributes we add. The ratios are to the three ids alone: properties are part
of the session's prebuilt ``attributes``, so with none the per-span cost is the
ids' own.

    python benchmarks/properties_callgrind.py [--quick | --smoke]
    python3 tasks.py bench --sections callgrind-properties
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SCENARIOS = {
    "bare": "no processor (3 ids, 16 properties in effect)",
    "ids": "3 ids, 0 properties",
    "ids+3": "3 ids, 3 properties",
    "ids+16": "3 ids, 16 properties",
}
COUNTS = {"full": 2000, "quick": 500, "smoke": 50}


def _properties(count: int) -> dict[str, str]:
    return {f"prop{index}": f"value-{index:03d}" for index in range(count)}


def _child(scenario: str, count: int) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from otel_genai_session import SessionSpanProcessor, session_context

    provider = TracerProvider()
    if scenario != "bare":
        provider.add_span_processor(SessionSpanProcessor())
    tracer = provider.get_tracer("bench")
    how_many = {"bare": 16, "ids": 0, "ids+3": 3, "ids+16": 16}[scenario]
    with session_context(
        session_id="conv-7f3a9c2e",
        user_id="user-1842",
        customer_id="acme",
        properties=_properties(how_many),
    ):
        for _ in range(count):
            tracer.start_span("s").end()


def _instructions(scenario: str, count: int) -> int:
    with tempfile.TemporaryDirectory() as directory:
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/out",
            "--dump-line=no", "--dump-instr=no",
            sys.executable, str(Path(__file__).resolve()), "child", scenario, str(count),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", completed.stderr)
    if completed.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run failed: {completed.stderr[-2000:]}")
    return int(found.group(1))


def _per_span(job: tuple[str, int]) -> float:
    scenario, count = job
    once = _instructions(scenario, count)
    return (_instructions(scenario, 2 * count) - once) / count


def measure(profile: str = "full") -> dict[str, float]:
    """Instructions per span, per scenario."""
    count = COUNTS[profile]
    with ThreadPoolExecutor(max_workers=2) as pool:
        figures = list(pool.map(_per_span, [(scenario, count) for scenario in SCENARIOS]))
    return dict(zip(SCENARIOS, figures, strict=True))


def print_figures(figures: dict[str, float]) -> None:
    bare, ids = figures["bare"], figures["ids"] - figures["bare"]
    print("callgrind-properties: instructions per span with SessionSpanProcessor (callgrind)")
    print(f"  {'scenario':<24} {'per span':>10} {'ours':>9} {'ours / 3 ids':>13}")
    for scenario, label in SCENARIOS.items():
        total = figures[scenario]
        if scenario == "bare":
            print(f"  {label[:24]:<24} {total:>10,.0f}")
            continue
        ours = total - bare
        ratio = ours / ids if ids else float("nan")
        print(f"  {label:<24} {total:>10,.0f} {ours:>9,.0f} {ratio:>12.2f}x")


def run(profile: str, notes: list[str]) -> list[object]:
    """The benchmark harness's section: prints its own table, returns no rows."""
    print_figures(measure(profile))
    notes.append("callgrind-properties: per-span cost of 0, 3 and 16 properties (instructions)")
    return []


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        _child(sys.argv[2], int(sys.argv[3]))
    else:
        chosen = "smoke" if "--smoke" in sys.argv else "quick" if "--quick" in sys.argv else "full"
        print_figures(measure(chosen))
