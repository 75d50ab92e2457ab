"""examples/langchain_chain.py runs on its own and prints the trees it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "langchain_chain.py"
SHAPE = [
    "invoke_workflow RunnableSequence",
    "  step ChatPromptTemplate",
    "  chat scripted-gpt",
    "  step run_tool_calls",
    "    execute_tool get_weather",
]


def test_example_runs_and_prints_both_trees_with_their_ids() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "1. inside session_context -> 'sunny in Paris'"
    assert lines[6] == "2. ids from config['metadata'] only -> 'sunny in Paris'"
    for block, ids in (
        (lines[1:6], "session.id=conv-42 user.id=alice customer.id=acme"),
        (lines[7:12], "session.id=thread-7 user.id=bob"),
    ):
        names = [re.split(r"\s{2,}span=", line[2:])[0].rstrip() for line in block]
        assert names == SHAPE
        for line in block:
            assert re.search(r"span=[0-9a-f]{16}  " + re.escape(ids) + "$", line), line
    assert len(lines) == 12
