"""scripts/soak.py runs end to end (a few seconds against uvicorn): the long
soak's figures are in docs/reliability.md; this keeps the script working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers

SOAK = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


@pytest.mark.timeout(120)
def test_soak_runs_and_finds_no_crosstalk(tmp_path: Path) -> None:
    report = tmp_path / "soak.json"
    arguments = ["--duration", "2", "--warmup", "1", "--concurrency", "4", "--pairs", "2"]
    subprocess.run(
        [sys.executable, str(SOAK), *arguments, "--servers", "uvicorn", "--report", str(report)],
        stdout=subprocess.DEVNULL,
        timeout=110,
        check=False,  # the 1 ms verdict on two pairs is noise; the report is checked
    )
    (result,) = json.loads(report.read_text())
    assert result["requests_served"] > 0 and result["hostile_requests"] > 0
    assert (result["crosstalk_spans"], result["crosstalk_responses"]) == (0, 0)
    assert result["requests_failed"] == 0, result["examples"]
    assert result["spans_checked"] > 0
    assert len(result["rss_kb_by_segment"]) == len(result["rss_kb_by_segment_without_middleware"])
    assert set(result["latency_one_by_one_bare_vs_ours"]) == {
        "bad-baggage",
        "huge-cookie",
        "huge-query",
        "plain",
        "repeated-headers",
        "small-pieces",
    }
