"""The written-down specification: thresholds as the OpenTelemetry spec's table,
randomness as an independent SHA-256 implementation computes it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import TraceState

from otel_genai_session._consistent_probability import (
    MAX_THRESHOLD,
    child_trace_state,
    probability_of,
    th_value,
)
from otel_genai_session.sampling import ratio_to_threshold, session_randomness

# The specification's table ("TraceState: Probability Sampling", precision 4).
SPEC_TABLE = [
    pytest.param(1.0, "0", id="1-in-1"),
    pytest.param(0.5, "8", id="1-in-2"),
    pytest.param(1 / 3, "aaab", id="1-in-3"),
    pytest.param(0.25, "c", id="1-in-4"),
    pytest.param(0.2, "cccd", id="1-in-5"),
    pytest.param(0.125, "e", id="1-in-8"),
    pytest.param(0.1, "e666", id="1-in-10"),
    pytest.param(0.0625, "f", id="1-in-16"),
    pytest.param(0.01, "fd70a", id="1-in-100"),
    pytest.param(0.001, "ffbe77", id="1-in-1000"),
    pytest.param(0.0001, "fff9724", id="1-in-10000"),
    pytest.param(0.00001, "ffff583a", id="1-in-100000"),
    pytest.param(0.000001, "ffffef39", id="1-in-1000000"),
]


@pytest.mark.parametrize(("ratio", "th"), SPEC_TABLE)
def test_thresholds_match_the_specification_table(ratio: float, th: str) -> None:
    assert th_value(ratio_to_threshold(ratio)) == th


def test_ratio_zero_keeps_nothing_and_a_tiny_ratio_still_keeps_something() -> None:
    assert ratio_to_threshold(0.0) == MAX_THRESHOLD
    assert probability_of(ratio_to_threshold(0.0)) == 0.0
    assert ratio_to_threshold(1e-30) == MAX_THRESHOLD - 1  # the smallest probability, 2**-56


@given(st.floats(min_value=2**-56, max_value=1.0))
def test_the_probability_written_is_within_the_precision_of_the_ratio(ratio: float) -> None:
    probability = probability_of(ratio_to_threshold(ratio))
    assert probability == pytest.approx(ratio, rel=2e-4, abs=2**-56)


@pytest.mark.parametrize(
    "session_id", ["conv-123", "acme-alice-1", "会话-é-1", "a" * 200], ids=str.__len__
)
def test_randomness_is_the_first_seven_bytes_of_sha256_as_sha256sum_computes_it(
    session_id: str,
) -> None:
    tool = shutil.which("sha256sum") or shutil.which("shasum")
    if tool is None:
        pytest.skip("no sha256sum/shasum on this machine")
    arguments = [tool] if tool.endswith("sha256sum") else [tool, "-a", "256"]
    digest = subprocess.run(
        arguments, input=session_id.encode("utf-8"), capture_output=True, check=True, timeout=30
    ).stdout.split()[0]
    assert f"{session_randomness(session_id):014x}" == digest[:14].decode()


@given(st.text(min_size=1, max_size=64), st.floats(0, 1), st.floats(0, 1))
def test_a_session_kept_at_one_ratio_is_kept_at_every_higher_ratio(
    session_id: str, ratio: float, other: float
) -> None:
    low, high = sorted((ratio, other))
    randomness = session_randomness(session_id)
    assert 0 <= randomness < MAX_THRESHOLD
    if randomness >= ratio_to_threshold(low):
        assert randomness >= ratio_to_threshold(high)


def test_lone_surrogates_hash_without_raising() -> None:
    assert session_randomness("\ud800") != session_randomness("\ud801")


class TestChildTraceState:
    """A sampler used for spans with a parent never sets ``rv`` and writes ``th``
    only when it is true of the trace's randomness."""

    TRACE_ID = 0x0123456789ABCDEF_00000000_00000000 | 0x40_0000_0000_0000

    def test_th_is_written_when_the_parent_rv_is_the_randomness_used(self) -> None:
        parent = TraceState([("vendor", "x"), ("ot", "rv:40000000000000;k1:v")])
        state = child_trace_state(parent, 0x40000000000000, 0x1 << 55, True, self.TRACE_ID)
        assert state.get("ot") == "th:8;rv:40000000000000;k1:v"
        assert state.get("vendor") == "x"

    def test_th_is_erased_when_the_decision_used_other_randomness(self) -> None:
        parent = TraceState([("ot", "th:c;rv:40000000000000")])
        state = child_trace_state(parent, 0x90000000000000, 0x1 << 55, True, self.TRACE_ID)
        assert state.get("ot") == "rv:40000000000000"

    def test_without_rv_the_trace_id_is_the_randomness(self) -> None:
        parent = TraceState([("ot", "th:c")])
        trace_randomness = self.TRACE_ID & (MAX_THRESHOLD - 1)
        kept = child_trace_state(parent, trace_randomness, 0, True, self.TRACE_ID)
        assert kept.get("ot") == "th:0"
        dropped = child_trace_state(parent, trace_randomness, MAX_THRESHOLD, False, self.TRACE_ID)
        assert "ot" not in dropped

    @pytest.mark.parametrize("bad", ["rv:4", "rv:4000000000000g", "rv:+0x000000000001"])
    def test_a_malformed_rv_is_not_taken_for_randomness(self, bad: str) -> None:
        parent = TraceState([("ot", bad)])
        trace_randomness = self.TRACE_ID & (MAX_THRESHOLD - 1)
        state = child_trace_state(parent, trace_randomness, 0, True, self.TRACE_ID)
        assert state.get("ot") == f"th:0;{bad}"


def test_the_test_vectors_in_the_docs_are_what_the_sampler_computes() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "sampling.md"
    row = re.compile(r"^\| `([^`]+)` \| `([0-9a-f]{14})` \| (yes|no) \| (yes|no) \|$")
    vectors = [m.groups() for m in map(row.match, doc.read_text("utf-8").splitlines()) if m]
    assert len(vectors) >= 4
    for session_id, rv, at_tenth, at_half in vectors:
        randomness = session_randomness(session_id)
        assert f"{randomness:014x}" == rv
        assert (randomness >= ratio_to_threshold(0.1)) == (at_tenth == "yes")
        assert (randomness >= ratio_to_threshold(0.5)) == (at_half == "yes")
