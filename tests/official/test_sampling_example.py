"""examples/sampling_session_view.py: the demo's traffic, sampled per trace and per session.

It plays the demo's chat service, which calls its model through the openai SDK,
so it runs here, in the demo's environment (.venv-official).
"""

from __future__ import annotations

import re

from tests.examples.conftest import EXAMPLES, RunPython
from tests.sampling._support import expected_kept

ROW = re.compile(r"^  (ParentBased\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+) of (\d+) ")


def test_the_session_view_example_keeps_sessions_whole_and_the_trace_sampler_does_not(
    run_python: RunPython,
) -> None:
    example = EXAMPLES / "sampling_session_view.py"
    result = run_python(str(example), "--copies", "12", "--ratio", "0.5")
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
    assert trace_partial > 0  # 48 sessions of 2-3 requests at 50%: some split
    assert "✓" in result.stdout and "●" in result.stdout
