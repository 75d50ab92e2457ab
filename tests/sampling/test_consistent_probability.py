"""The written-down specification: thresholds as the OpenTelemetry spec's table,
randomness as an independent SHA-256 implementation computes it."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import TraceState

from otel_genai_session.sampling import ratio_to_threshold, session_randomness
from otel_genai_session.sampling._consistent_probability import (
    MAX_THRESHOLD,
    parent_randomness,
    probability_of,
    replaced_trace_state,
    th_value,
)

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


class TestReplacedTraceState:
    """A parent's ``th`` and ``rv`` are replaced by ours, never forwarded; the
    rest of its ``ot`` entry and other vendors' entries pass through."""

    def test_the_parent_th_and_rv_are_replaced_and_the_rest_kept(self) -> None:
        parent = TraceState([("vendor", "x"), ("ot", "th:0;rv:00000000000000;k1:v")])
        state = replaced_trace_state(parent, "th:8;rv:40000000000000")
        assert state.get("ot") == "th:8;rv:40000000000000;k1:v"
        assert state.get("vendor") == "x"

    def test_nothing_of_ours_removes_the_parent_th_and_rv(self) -> None:
        assert "ot" not in replaced_trace_state(TraceState([("ot", "th:0;rv:00000000000000")]), "")
        assert replaced_trace_state(TraceState([("ot", "th:0;k:v")]), "").get("ot") == "k:v"

    def test_ours_is_added_when_the_parent_has_no_ot(self) -> None:
        state = replaced_trace_state(TraceState([("vendor", "x")]), "th:0")
        assert dict(state.items()) == {"vendor": "x", "ot": "th:0"}

    @pytest.mark.parametrize("length", [254, 255, 256])
    def test_an_invalid_rebuilt_value_removes_ot_silently(
        self, length: int, caplog: pytest.LogCaptureFixture
    ) -> None:
        client = "th:0;" + "x" * (length - 5)
        parent = TraceState([("vendor", "x"), ("ot", client)])
        with caplog.at_level(logging.DEBUG):
            state = replaced_trace_state(parent, "th:e666;rv:f20debe6ff83c7")
        assert "ot" not in state
        assert state.get("vendor") == "x"
        assert "xxxx" not in caplog.text

    @pytest.mark.parametrize("bad", ["rv:4", "rv:4000000000000g", "rv:+0x000000000001"])
    def test_a_malformed_rv_is_not_taken_for_randomness(self, bad: str) -> None:
        trace_id = 0x0123456789ABCDEF_00000000_00000000 | 0x40_0000_0000_0000
        assert parent_randomness(TraceState([("ot", bad)]), trace_id) == 0x40_0000_0000_0000


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
