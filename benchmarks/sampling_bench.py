#!/usr/bin/env python3
"""Sampling section: what the session sampler costs per root span, against the
SDK's ``TraceIdRatioBased``.

    python benchmarks/sampling_bench.py            # ~1 min; --quick, --smoke
    python3 tasks.py bench --sections sampling     # the same rows in the suite's table

Three groups, each timed interleaved with its baseline (see _harness.py), all
figures from one run:

- ``should_sample``, a root (no parent): ``TraceIdRatioBased(0.1)`` against
  ``SessionRatioSampler(0.1)`` inside a live session (its decision cached),
  for a new session on every call (SHA-256 and a new tracestate each time),
  and outside any session (the trace-id fallback);
- a root span ``start_span().end()`` on an SDK provider, every span kept
  (ratio 1): ``ParentBased(TraceIdRatioBased)`` against
  ``ParentBasedSessionRatioSampler``, in a session and outside;
- the same with every span dropped (ratio 0), where the sampler is most of
  what a span costs.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from _harness import Block, Result, Settings, measure, run_alone, timed, within

__all__ = ["run"]

TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C


@contextmanager
def _in_session() -> Iterator[None]:
    from otel_genai_session import session_context

    with session_context(session_id="conv-7f3a9c2e", user_id="user-1842", customer_id="acme"):
        yield


def _should_sample_group(settings: Settings) -> list[Result]:
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    from otel_genai_session.sampling import SessionRatioSampler

    trace_ratio = TraceIdRatioBased(0.1).should_sample
    session_ratio = SessionRatioSampler(0.1).should_sample
    fresh_ids = itertools.cycle([{"session.id": f"conv-{i:08x}"} for i in range(1 << 16)])

    def new_session() -> object:  # the session as a start attribute: a cache miss each time
        return session_ratio(None, TRACE_ID, "op", None, next(fresh_ids))

    variants: list[tuple[str, Block]] = [
        (
            "TraceIdRatioBased",
            within(nullcontext, timed(lambda: trace_ratio(None, TRACE_ID, "op"))),
        ),
        ("session, live", within(_in_session, timed(lambda: session_ratio(None, TRACE_ID, "op")))),
        ("session, new each call", within(nullcontext, timed(new_session))),
        ("no session", within(nullcontext, timed(lambda: session_ratio(None, TRACE_ID, "op")))),
    ]
    return measure("sampling", "should_sample", "root, ratio 0.1", variants, settings)


def _span_group(ratio: float, settings: Settings) -> list[Result]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    from otel_genai_session.sampling import ParentBasedSessionRatioSampler

    def root_span(sampler: Any) -> Callable[[], None]:
        start_span = TracerProvider(sampler=sampler).get_tracer("bench").start_span
        return lambda: start_span("op").end()

    trace_ratio = root_span(ParentBasedTraceIdRatio(ratio))
    session_ratio = root_span(ParentBasedSessionRatioSampler(ratio))
    variants: list[tuple[str, Block]] = [
        ("ParentBasedTraceIdRatio", within(_in_session, timed(trace_ratio))),
        ("ParentBasedSessionRatio, session", within(_in_session, timed(session_ratio))),
        ("ParentBasedSessionRatio, none", within(nullcontext, timed(session_ratio))),
    ]
    scenario = "all kept (ratio 1)" if ratio == 1 else "all dropped (ratio 0)"
    return measure("sampling", "root span", scenario, variants, settings)


def run(settings: Settings, notes: list[str]) -> list[Result]:
    notes.append(
        "sampling: ratio = cost per root span against the SDK's TraceIdRatioBased "
        "(should_sample) or ParentBased(TraceIdRatioBased) (whole span)"
    )
    return [
        *_should_sample_group(settings),
        *_span_group(1.0, settings),
        *_span_group(0.0, settings),
    ]


if __name__ == "__main__":
    sys.exit(run_alone(run, sys.argv[1:], (__doc__ or "").splitlines()[0]))
