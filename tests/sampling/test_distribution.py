"""The issue's figures: 10,000 sessions of 1 to 20 traces each, sampled at 10%
through the real SDK; every trace a root span with a child, in its session.

With the session sampler, the share of sessions kept is within 1.5 points of
10% and no session is partly kept. The same traffic through the SDK's
``ParentBased(TraceIdRatioBased(0.1))`` is the control: it keeps about 10% of
the traces but fragments most sessions, which is what this package fixes.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio, Sampler

from otel_genai_session import session_context
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.sampling import ParentBasedSessionRatioSampler

from ._support import expected_kept

pytestmark = pytest.mark.slow

SESSIONS = 10_000
RATIO = 0.1


def _traffic() -> dict[str, int]:
    """Session id -> number of traces (1-20), the same in every run."""
    rng = random.Random(16)
    return {str(uuid.UUID(int=rng.getrandbits(128))): rng.randint(1, 20) for _ in range(SESSIONS)}


def _kept_traces_per_session(sampler: Sampler, traffic: dict[str, int]) -> dict[str, int]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("distribution")
    for session_id, traces in traffic.items():
        with session_context(session_id=session_id, customer_id="acme"):
            for _ in range(traces):
                with tracer.start_as_current_span("POST /chat"):
                    tracer.start_span("chat model").end()  # a child of the root
    kept: dict[str, set[int]] = defaultdict(set)
    for span in exporter.get_finished_spans():
        assert span.attributes is not None and span.context is not None
        kept[str(span.attributes["session.id"])].add(span.context.trace_id)
    provider.shutdown()
    return {session_id: len(trace_ids) for session_id, trace_ids in kept.items()}


def test_ten_thousand_sessions_are_kept_whole_at_ten_percent() -> None:
    traffic = _traffic()
    kept = _kept_traces_per_session(ParentBasedSessionRatioSampler(RATIO), traffic)

    share = len(kept) / SESSIONS
    partly_kept = [session for session, count in kept.items() if count != traffic[session]]
    print(f"session sampler: {share:.2%} of sessions kept, {len(partly_kept)} partly kept")
    assert abs(share - RATIO) <= 0.015
    assert partly_kept == []
    # ...and they are exactly the sessions the written-down hash says
    assert set(kept) == {session for session in traffic if expected_kept(session, RATIO)}


def test_the_trace_ratio_sampler_fragments_the_same_sessions() -> None:
    traffic = _traffic()
    kept = _kept_traces_per_session(ParentBasedTraceIdRatio(RATIO), traffic)

    traces_kept = sum(kept.values()) / sum(traffic.values())
    partly_kept = [session for session, count in kept.items() if count != traffic[session]]
    multi_trace = sum(1 for count in traffic.values() if count > 1)
    print(f"trace sampler: {traces_kept:.2%} of traces, {len(partly_kept)} sessions partly kept")
    assert abs(traces_kept - RATIO) <= 0.015
    assert len(partly_kept) > multi_trace / 2
