#!/usr/bin/env python3
"""Logs and privacy section: what ``SessionLogFilter`` and user-id hashing cost,
each against the same work without them.

    python3 tasks.py bench --sections logs-privacy   # rows in the suite's table
    python benchmarks/logs_privacy_bench.py          # alone; --quick, --smoke

Timed interleaved with the baseline (see _harness.py): formatting a log record
inside a 3-id session, with and without the filter; a session plus one span,
with user.id in clear and hashed (the hash computed once per session); a span
in a session whose hash is already computed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

from _harness import IDS, Block, Result, Settings, in_session, measure, run_alone, timed, within

__all__ = ["run"]

SECTION = "logs-privacy"


@contextmanager
def _hashing() -> Iterator[None]:
    from otel_genai_session.privacy import disable_user_id_hashing, enable_user_id_hashing

    enable_user_id_hashing(b"bench key")
    try:
        yield
    finally:
        disable_user_id_hashing()


@contextmanager
def _hashed_session() -> Iterator[None]:
    with _hashing(), in_session():
        yield


def _log_group(settings: Settings) -> list[Result]:
    from otel_genai_session.logs import SessionLogFilter

    record = logging.LogRecord("bench", logging.INFO, __file__, 1, "message", None, None)
    log_filter = SessionLogFilter()
    formatter = logging.Formatter("%(levelname)s %(message)s")
    variants: list[tuple[str, Block]] = [
        ("format", within(in_session, timed(lambda: formatter.format(record)))),
        (
            "+ SessionLogFilter",
            within(
                in_session, timed(lambda: (log_filter.filter(record), formatter.format(record)))
            ),
        ),
    ]
    return measure(SECTION, "log record", "format, 3-id session", variants, settings)


def _span_job() -> Callable[[], None]:
    from opentelemetry.sdk.trace import TracerProvider

    from otel_genai_session.processor import SessionSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    start_span = provider.get_tracer("bench").start_span
    return lambda: start_span("op").end()


def _hashing_groups(settings: Settings) -> list[Result]:
    from otel_genai_session import session_context

    span = _span_job()

    def session_and_span() -> None:
        with session_context(**IDS):
            span()

    per_session: list[tuple[str, Block]] = [
        ("user.id in clear", within(nullcontext, timed(session_and_span))),
        ("user.id hashed", within(_hashing, timed(session_and_span))),
    ]
    per_span: list[tuple[str, Block]] = [
        ("user.id in clear", within(in_session, timed(span))),
        ("user.id hashed (hash computed once)", within(_hashed_session, timed(span))),
    ]
    return [
        *measure(SECTION, "user-id hashing", "new session + span", per_session, settings),
        *measure(SECTION, "user-id hashing", "span in a session", per_span, settings),
    ]


def run(settings: Settings, notes: list[str]) -> list[Result]:
    notes.append(f"{SECTION}: SessionLogFilter and user-id hashing against the same work without")
    return [*_log_group(settings), *_hashing_groups(settings)]


if __name__ == "__main__":
    sys.exit(run_alone(run, sys.argv[1:], (__doc__ or "").splitlines()[0]))
