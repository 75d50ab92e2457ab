"""examples/sampling_session_view.py: the demo's traffic, sampled per trace and per session."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ._support import child_environment, expected_kept

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sampling_session_view.py"
ROW = re.compile(r"^  (ParentBased\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+) of (\d+) ")


def test_the_session_view_example_keeps_sessions_whole_and_the_trace_sampler_does_not() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLE), "--copies", "12", "--ratio", "0.5"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env=child_environment({"PYTHONIOENCODING": "utf-8"}),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    matches = [ROW.match(line) for line in result.stdout.splitlines()]
    rows = {m[1]: [int(g) for g in m.groups()[1:]] for m in matches if m}
    sessions, complete, partial, kept, requests = rows["ParentBasedSessionRatioSampler"]
    assert requests == 12 * 9 and sessions == complete and partial == 0
    turns = {"acme-alice-1": 3, "acme-bob-1": 2, "globex-carol-new": 2, "globex-carol-7": 2}
    expected = {f"{name}-{n:03d}": count for name, count in turns.items() for n in range(12)}
    expected = {s: count for s, count in expected.items() if expected_kept(s, 0.5)}
    assert (sessions, kept) == (len(expected), sum(expected.values()))
    _, _, trace_partial, _, _ = rows["ParentBased(TraceIdRatioBased)"]
    assert trace_partial > 0  # 36 multi-request sessions at 50%: some split, by chance
    assert "✓" in result.stdout and "●" in result.stdout
